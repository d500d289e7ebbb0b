// linear.cl: fully connected layer on flat (N, I) float activations (the head after global_avgpool).
// Math is float in every variant (the head is tiny); only the weight storage follows the variant.
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

// weight: (O, I) row-major storage_t; bias: (O) float (zeros when the graph has none); in (N, I), out (N, O).
// Global size: (O, N).
__kernel void linear(__global const float* in, __global const storage_t* weight, __global const float* bias,
                     __global float* out, int in_features, int out_features, int act) {
  const int o = get_global_id(0), n = get_global_id(1);
  if (o >= out_features) return;
  __global const float* x = in + n * in_features;
  __global const storage_t* w = weight + o * in_features;
  float4 acc4 = (float4)0;
  const int i4 = in_features / 4;
  for (int i = 0; i < i4; ++i) acc4 = mad(vload4(i, x), LOADF4(i, w), acc4);
  float acc = bias[o] + acc4.x + acc4.y + acc4.z + acc4.w;
  for (int i = i4 * 4; i < in_features; ++i) acc = mad(x[i], LOADF1(i, w), acc);
  out[n * out_features + o] = FACERT_ACTIVATE_F(acc, act);
}
