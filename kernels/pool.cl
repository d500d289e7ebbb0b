// pool.cl: max pooling on NC4HW4 activations, and global average pooling to a flat (N, C) float tensor,
// optionally L2-normalised (the embedding head's last step).
#include "storage.h"

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
    for (int x = x_begin; x < x_end; ++x) m = fmax(m, LOAD4(row + x, in));
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
  const float inv = 1.0f / fmax(sqrt(norm2), 1e-12f);
  for (int i = 0; i < c; ++i) out[n * c + i] *= inv;
}
