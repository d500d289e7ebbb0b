"""Properties of kernels/ as a whole: every file includes the one storage preamble (kernels/storage.h) and
defines no storage macro of its own, all files build as one program (the engine's), every variant builds,
and the half-arithmetic variant is compile-guarded by the device's cl_khr_fp16."""
import re

import pytest

from cl_helpers import INCLUDE, KERNELS_DIR, cl_env, kernel_source  # noqa: F401

CL_FILES = sorted(KERNELS_DIR.glob("*.cl"))


def test_every_file_includes_the_one_preamble():
    assert len(CL_FILES) >= 4
    for f in CL_FILES:
        text = f.read_text()
        assert text.count(INCLUDE) == 1, f"{f.name} must include storage.h exactly once"
        assert not re.search(r"#define (LOAD4|STORE4|FACERT_ACTIVATE)\b|typedef \w+ storage_t", text), \
            f"{f.name} defines storage macros of its own; they belong in kernels/storage.h"
    assert "FACERT_STORAGE_DEFINED" in (KERNELS_DIR / "storage.h").read_text()


@pytest.mark.opencl
@pytest.mark.parametrize("options", [[], ["-DFACERT_FP16_STORAGE"]])
def test_all_files_build_as_one_program(cl_env, options):
    src = "".join(kernel_source(f.name) for f in CL_FILES)
    prg = cl_env.cl.Program(cl_env.ctx, src).build(options=options)
    names = set(prg.get_info(cl_env.cl.program_info.KERNEL_NAMES).split(";"))
    assert {"conv2d", "conv2d_1x1", "conv2d_depthwise", "maxpool2d", "global_avgpool", "global_avgpool_l2", "linear",
            "nchw_to_nc4hw4", "nc4hw4_to_nchw", "copy_nc4hw4"} <= names


@pytest.mark.opencl
def test_half_math_variant_follows_the_extension(cl_env):
    src = "".join(kernel_source(f.name) for f in CL_FILES)
    has_fp16 = "cl_khr_fp16" in cl_env.device.extensions
    prog = cl_env.cl.Program(cl_env.ctx, src)
    if has_fp16:
        prog.build(options=["-DFACERT_FP16_MATH"])
    else:  # PoCL: half arithmetic must be refused at build time, which is why the engine never asks for it
        with pytest.raises(cl_env.cl.RuntimeError):
            prog.build(options=["-DFACERT_FP16_MATH"])
