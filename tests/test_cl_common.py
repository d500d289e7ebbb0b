"""Properties of kernels/ as a whole: the storage preamble is byte-identical in every file (the engine
concatenates them into one program and only the first copy is compiled), every variant builds, and the
half-arithmetic variant is compile-guarded by the device's cl_khr_fp16."""
import re

import pytest

from cl_helpers import KERNELS_DIR, cl_env  # noqa: F401

PREAMBLE = re.compile(r"// ---- facert storage preamble.*?// ---- end of preamble\n", re.S)
CL_FILES = sorted(KERNELS_DIR.glob("*.cl"))


def test_every_file_carries_the_same_preamble():
    assert len(CL_FILES) >= 4
    blocks = {f.name: PREAMBLE.search(f.read_text()) for f in CL_FILES}
    missing = [name for name, m in blocks.items() if m is None]
    assert not missing, f"preamble missing in {missing}"
    assert len({m.group(0) for m in blocks.values()}) == 1, "preamble differs between kernels/*.cl"


@pytest.mark.opencl
@pytest.mark.parametrize("options", [[], ["-DFACERT_FP16_STORAGE"]])
def test_all_files_build_as_one_program(cl_env, options):
    src = "".join(f.read_text() for f in CL_FILES)
    prg = cl_env.cl.Program(cl_env.ctx, src).build(options=options)
    names = set(prg.get_info(cl_env.cl.program_info.KERNEL_NAMES).split(";"))
    assert {"conv2d", "conv2d_1x1", "maxpool2d", "global_avgpool", "global_avgpool_l2", "linear",
            "nchw_to_nc4hw4", "nc4hw4_to_nchw"} <= names


@pytest.mark.opencl
def test_half_math_variant_follows_the_extension(cl_env):
    src = "".join(f.read_text() for f in CL_FILES)
    has_fp16 = "cl_khr_fp16" in cl_env.device.extensions
    prog = cl_env.cl.Program(cl_env.ctx, src)
    if has_fp16:
        prog.build(options=["-DFACERT_FP16_MATH"])
    else:  # PoCL: half arithmetic must be refused at build time, which is why the engine never asks for it
        with pytest.raises(cl_env.cl.RuntimeError):
            prog.build(options=["-DFACERT_FP16_MATH"])
