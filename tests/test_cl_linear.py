"""kernels/linear.cl through pyopencl: fully connected head, feature counts not a multiple of 4."""
import numpy as np
import pytest

from cl_helpers import ACTIVATIONS, cl_env, linear_ref, quantise, rel_err, storage_dtype, tolerance  # noqa: F401

pytestmark = pytest.mark.opencl


@pytest.mark.parametrize("variant", ["fp32", "fp16"])
@pytest.mark.parametrize("case", [(1, 512, 128, "none"), (3, 13, 7, "relu"), (2, 3, 1, "relu6"), (5, 1000, 130, "none")])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(cl_env, case, variant, with_bias):
    n, i, o, act = case
    rng = np.random.default_rng(i + o)
    x = rng.standard_normal((n, i)).astype(np.float32).astype(np.float64)
    weight = quantise(rng.standard_normal((o, i)) / np.sqrt(i), variant)
    bias = rng.standard_normal(o).astype(np.float32).astype(np.float64) if with_bias else None
    ref = linear_ref(x, weight, bias, act)
    out_buf = cl_env.empty(n * o * 4)
    cl_env.run("linear.cl", variant, "linear", (o, n), cl_env.buffer(x.astype(np.float32)),
               cl_env.buffer(weight.astype(storage_dtype(variant))),
               cl_env.buffer((bias if with_bias else np.zeros(o)).astype(np.float32)), out_buf,
               np.int32(i), np.int32(o), np.int32(ACTIVATIONS[act]))
    got = cl_env.read(out_buf, (n, o), np.float32)
    # float math in both variants, weights already half-rounded in the reference: fp32 tolerance
    assert rel_err(got, ref) <= tolerance("fp32")
