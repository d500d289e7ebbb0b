// convert.cl: the network's input and output edges, NCHW float on the host side <-> NC4HW4 storage on the
// device side. The only host-device copies of a forward pass go through these two kernels.
// ---- facert storage preamble: byte-identical in every kernels/*.cl (tests/test_cl_common.py checks), so
// each file builds alone (pyopencl tests) and all of them concatenated build as one program (the engine).
// Activations are NC4HW4: [N][ceil(C/4)][H][W][4], lanes past C hold zeros.
// Variants by build option: default fp32; -DFACERT_FP16_STORAGE: half in memory, float math
// (vload_half/vstore_half, needs no extension); -DFACERT_FP16_MATH: half math (needs cl_khr_fp16).
#ifndef FACERT_STORAGE_DEFINED
#define FACERT_STORAGE_DEFINED
#if defined(FACERT_FP16_MATH)
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
typedef half storage_t;
typedef half4 real4;
#define LOAD4(off, p) vload4((off), (p))
#define STORE4(v, off, p) vstore4((v), (off), (p))
#define LOADF4(off, p) convert_float4(vload4((off), (p)))
#define LOADF1(off, p) ((float)(p)[off])
#define STOREF4(v, off, p) vstore4(convert_half4(v), (off), (p))
#define REAL4(v) convert_half4(v)
#elif defined(FACERT_FP16_STORAGE)
typedef half storage_t;
typedef float4 real4;
#define LOAD4(off, p) vload_half4((off), (p))
#define STORE4(v, off, p) vstore_half4((v), (off), (p))
#define LOADF4(off, p) vload_half4((off), (p))
#define LOADF1(off, p) vload_half((off), (p))
#define STOREF4(v, off, p) vstore_half4((v), (off), (p))
#define REAL4(v) (v)
#else
typedef float storage_t;
typedef float4 real4;
#define LOAD4(off, p) vload4((off), (p))
#define STORE4(v, off, p) vstore4((v), (off), (p))
#define LOADF4(off, p) vload4((off), (p))
#define LOADF1(off, p) ((p)[off])
#define STOREF4(v, off, p) vstore4((v), (off), (p))
#define REAL4(v) (v)
#endif
// act: 0 none, 1 relu, 2 relu6 (the graph's "activation" attribute). NaN stays NaN, as in PyTorch: fmax,
// fmin and clamp return the other operand for a NaN, so the compare-and-select forms below are used.
#define FACERT_RELU4(v) select((v), (real4)0, (v) < (real4)0)
#define FACERT_ACTIVATE(v, act) \
  ((act) == 1 ? FACERT_RELU4(v) : (act) == 2 ? select(FACERT_RELU4(v), (real4)6, (v) > (real4)6) : (v))
#define FACERT_ACTIVATE_F(v, act) \
  ((act) == 1 ? ((v) < 0.0f ? 0.0f : (v)) : (act) == 2 ? ((v) < 0.0f ? 0.0f : (v) > 6.0f ? 6.0f : (v)) : (v))
// Max that keeps a NaN from either side (PyTorch's max pooling).
#define FACERT_MAX_NAN(m, x) select((x), (m), ((m) > (x)) | isnan(m))
#endif
// ---- end of preamble

// in: (N, c, hw) float; out: (N, cb, hw, 4) with lanes past c set to 0 (the convs rely on it).
// Global size: (hw, N * cb).
__kernel void nchw_to_nc4hw4(__global const float* in, __global storage_t* out, int c, int cb, int hw) {
  const int p = get_global_id(0), nb = get_global_id(1);
  if (p >= hw) return;
  const int n = nb / cb, b = nb - n * cb, c0 = b * 4;
  const int src = (n * c + c0) * hw + p;
  const float4 v = (float4)(in[src],
                            c0 + 1 < c ? in[src + hw] : 0.0f,
                            c0 + 2 < c ? in[src + 2 * hw] : 0.0f,
                            c0 + 3 < c ? in[src + 3 * hw] : 0.0f);
  STOREF4(v, nb * hw + p, out);
}

// in: (N, cb, hw, 4) storage; out: (N, c, hw) float. Global size: (hw, N * cb).
__kernel void nc4hw4_to_nchw(__global const storage_t* in, __global float* out, int c, int cb, int hw) {
  const int p = get_global_id(0), nb = get_global_id(1);
  if (p >= hw) return;
  const int n = nb / cb, b = nb - n * cb, c0 = b * 4;
  const float4 v = LOADF4(nb * hw + p, in);
  const int dst = (n * c + c0) * hw + p;
  out[dst] = v.x;
  if (c0 + 1 < c) out[dst + hw] = v.y;
  if (c0 + 2 < c) out[dst + 2 * hw] = v.z;
  if (c0 + 3 < c) out[dst + 3 * hw] = v.w;
}
