// pool.cl: max pooling on NC4HW4 activations, and global average pooling to a flat (N, C) float tensor,
// optionally L2-normalised (the embedding head's last step).
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

// PyTorch MaxPool2d; out_h/out_w come from the host with ceil mode applied, so every window holds at least
// one input pixel (a window that would start in the bottom/right padding was dropped there).
// Global size: (out_w, out_h, N * cb).
__kernel void maxpool2d(__global const storage_t* in, __global storage_t* out,
                        int cb, int in_h, int in_w, int out_h, int out_w,
                        int kh, int kw, int sh, int sw, int ph, int pw) {
  const int ox = get_global_id(0), oy = get_global_id(1), nb = get_global_id(2);
  if (ox >= out_w || oy >= out_h) return;
  const int y0 = oy * sh - ph, x0 = ox * sw - pw;
  const int y_begin = max(y0, 0), y_end = min(y0 + kh, in_h);
  const int x_begin = max(x0, 0), x_end = min(x0 + kw, in_w);
  real4 m = REAL4((float4)(-INFINITY));
  for (int y = y_begin; y < y_end; ++y) {
    const int row = (nb * in_h + y) * in_w;
    for (int x = x_begin; x < x_end; ++x) m = FACERT_MAX_NAN(m, LOAD4(row + x, in));
  }
  STORE4(m, (nb * out_h + oy) * out_w + ox, out);
}

// Mean over H*W of every channel. Global size: (cb, N). out: (N, c) float, c real channels.
__kernel void global_avgpool(__global const storage_t* in, __global float* out, int cb, int c, int hw) {
  const int b = get_global_id(0), n = get_global_id(1);
  if (b >= cb) return;
  const int base = (n * cb + b) * hw;
  float4 s = (float4)0;
  for (int p = 0; p < hw; ++p) s += LOADF4(base + p, in);
  s /= (float)hw;
  const float v[4] = {s.x, s.y, s.z, s.w};
  for (int l = 0; l < 4 && b * 4 + l < c; ++l) out[n * c + b * 4 + l] = v[l];
}

// global_avgpool then v /= max(||v||, 1e-12) per image: one work-item per image (c is an embedding, ~128).
// Global size: (N).
__kernel void global_avgpool_l2(__global const storage_t* in, __global float* out, int cb, int c, int hw) {
  const int n = get_global_id(0);
  float norm2 = 0.0f;
  for (int b = 0; b < cb; ++b) {
    const int base = (n * cb + b) * hw;
    float4 s = (float4)0;
    for (int p = 0; p < hw; ++p) s += LOADF4(base + p, in);
    s /= (float)hw;
    norm2 += dot(s, s);  // padded lanes are 0
    const float v[4] = {s.x, s.y, s.z, s.w};
    for (int l = 0; l < 4 && b * 4 + l < c; ++l) out[n * c + b * 4 + l] = v[l];
  }
  const float norm = sqrt(norm2);
  const float inv = 1.0f / (norm < 1e-12f ? 1e-12f : norm);  // NaN stays NaN (fmax would drop it)
  for (int i = 0; i < c; ++i) out[n * c + i] *= inv;
}
