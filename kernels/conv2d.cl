// conv2d.cl: 2-D convolution on NC4HW4 activations, bias and activation fused: groups = 1 (conv2d,
// conv2d_1x1) and depthwise, groups = in channels = out channels (conv2d_depthwise).
// groups = 1 weights are packed by the host as [out_cb][in_cb][kh][kw][4 input lanes][4 output lanes], zero past
// the real channel counts, so padded input lanes never contribute and padded output lanes come out 0.
// The output may be a channel slice of a larger tensor (a fire module's concat): this conv writes blocks
// [out_cb_offset, out_cb_offset + out_cb) of a tensor with out_cb_total blocks, so concat costs no copy.
#include "storage.h"

// One input pixel (4 channels) times the 4x4 weight block of one (ib, ky, kx): acc += W^T v.
#define FACERT_MAC4(acc, v, w0, w1, w2, w3) \
  acc = mad((real4)(v).x, w0, mad((real4)(v).y, w1, mad((real4)(v).z, w2, mad((real4)(v).w, w3, acc))))

// General kernel/stride/pad/dilation. Work-item: 4 consecutive output columns x 2 output blocks (8 channels),
// so each input load feeds 8 channels (measured on PoCL: ~30% faster than one block per work-item).
// Global size: (ceil(out_w / 4), out_h, N * ceil(out_cb / 2)); odd out_cb: the last pair's second block
// recomputes the first and is not stored.
__kernel void conv2d(__global const storage_t* in, __global const storage_t* weight,
                     __global const float* bias, __global storage_t* out,
                     int in_cb, int in_h, int in_w,
                     int out_cb, int out_h, int out_w, int out_cb_total, int out_cb_offset,
                     int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int act) {
  const int ox0 = get_global_id(0) * 4;
  const int oy = get_global_id(1);
  const int nb = get_global_id(2);
  const int ob_pairs = (out_cb + 1) / 2;
  if (ox0 >= out_w || oy >= out_h) return;
  const int n = nb / ob_pairs, ob0 = (nb - n * ob_pairs) * 2;
  const int ob1 = min(ob0 + 1, out_cb - 1);
  const real4 b = REAL4(vload4(ob0, bias)), bb = REAL4(vload4(ob1, bias));
  real4 acc0 = b, acc1 = b, acc2 = b, acc3 = b;
  real4 c0 = bb, c1 = bb, c2 = bb, c3 = bb;
  const int iy0 = oy * sh - ph, ix0 = ox0 * sw - pw;
  const real4 zero = (real4)0;
  for (int ib = 0; ib < in_cb; ++ib) {
    const int plane = (n * in_cb + ib) * in_h;
    int w_off = ((ob0 * in_cb + ib) * kh * kw) * 4;
    int w1_off = ((ob1 * in_cb + ib) * kh * kw) * 4;
    for (int ky = 0; ky < kh; ++ky) {
      const int iy = iy0 + ky * dh;
      if (iy < 0 || iy >= in_h) { w_off += kw * 4; w1_off += kw * 4; continue; }
      const int row = (plane + iy) * in_w;
      for (int kx = 0; kx < kw; ++kx, w_off += 4, w1_off += 4) {
        const int ix = ix0 + kx * dw;
        const real4 v0 = (ix >= 0 && ix < in_w) ? LOAD4(row + ix, in) : zero;
        const real4 v1 = (ix + sw >= 0 && ix + sw < in_w) ? LOAD4(row + ix + sw, in) : zero;
        const real4 v2 = (ix + 2 * sw >= 0 && ix + 2 * sw < in_w) ? LOAD4(row + ix + 2 * sw, in) : zero;
        const real4 v3 = (ix + 3 * sw >= 0 && ix + 3 * sw < in_w) ? LOAD4(row + ix + 3 * sw, in) : zero;
        real4 w0 = LOAD4(w_off, weight), w1 = LOAD4(w_off + 1, weight);
        real4 w2 = LOAD4(w_off + 2, weight), w3 = LOAD4(w_off + 3, weight);
        FACERT_MAC4(acc0, v0, w0, w1, w2, w3);
        FACERT_MAC4(acc1, v1, w0, w1, w2, w3);
        FACERT_MAC4(acc2, v2, w0, w1, w2, w3);
        FACERT_MAC4(acc3, v3, w0, w1, w2, w3);
        w0 = LOAD4(w1_off, weight); w1 = LOAD4(w1_off + 1, weight);
        w2 = LOAD4(w1_off + 2, weight); w3 = LOAD4(w1_off + 3, weight);
        FACERT_MAC4(c0, v0, w0, w1, w2, w3);
        FACERT_MAC4(c1, v1, w0, w1, w2, w3);
        FACERT_MAC4(c2, v2, w0, w1, w2, w3);
        FACERT_MAC4(c3, v3, w0, w1, w2, w3);
      }
    }
  }
  const int o = ((n * out_cb_total + out_cb_offset + ob0) * out_h + oy) * out_w + ox0;
  STORE4(FACERT_ACTIVATE(acc0, act), o, out);
  if (ox0 + 1 < out_w) STORE4(FACERT_ACTIVATE(acc1, act), o + 1, out);
  if (ox0 + 2 < out_w) STORE4(FACERT_ACTIVATE(acc2, act), o + 2, out);
  if (ox0 + 3 < out_w) STORE4(FACERT_ACTIVATE(acc3, act), o + 3, out);
  if (ob1 == ob0) return;
  const int o1 = o + out_h * out_w;
  STORE4(FACERT_ACTIVATE(c0, act), o1, out);
  if (ox0 + 1 < out_w) STORE4(FACERT_ACTIVATE(c1, act), o1 + 1, out);
  if (ox0 + 2 < out_w) STORE4(FACERT_ACTIVATE(c2, act), o1 + 2, out);
  if (ox0 + 3 < out_w) STORE4(FACERT_ACTIVATE(c3, act), o1 + 3, out);
}

// 1x1, stride 1, no padding: a GEMM over channel blocks. Work-item: 4 consecutive pixels (of the flattened
// H*W plane) x 2 output blocks, so each input load feeds 8 channels and each weight load 4 pixels.
// Global size: (ceil(hw / 4), ceil(out_cb / 2), N).
__kernel void conv2d_1x1(__global const storage_t* in, __global const storage_t* weight,
                         __global const float* bias, __global storage_t* out,
                         int in_cb, int hw, int out_cb, int out_cb_total, int out_cb_offset, int act) {
  const int p0 = get_global_id(0) * 4;
  const int ob0 = get_global_id(1) * 2;
  const int n = get_global_id(2);
  if (p0 >= hw || ob0 >= out_cb) return;
  const int ob1 = min(ob0 + 1, out_cb - 1);  // odd out_cb: the second block recomputes the first, not stored

  const real4 b0 = REAL4(vload4(ob0, bias)), b1 = REAL4(vload4(ob1, bias));
  real4 a00 = b0, a01 = b0, a02 = b0, a03 = b0;
  real4 a10 = b1, a11 = b1, a12 = b1, a13 = b1;
  const bool full = p0 + 3 < hw;
  const real4 zero = (real4)0;
  int in_off = n * in_cb * hw + p0;
  int w0_off = ob0 * in_cb * 4, w1_off = ob1 * in_cb * 4;
  for (int ib = 0; ib < in_cb; ++ib, in_off += hw, w0_off += 4, w1_off += 4) {
    real4 v0, v1, v2, v3;
    if (full) {
      v0 = LOAD4(in_off, in); v1 = LOAD4(in_off + 1, in); v2 = LOAD4(in_off + 2, in); v3 = LOAD4(in_off + 3, in);
    } else {
      v0 = LOAD4(in_off, in);
      v1 = p0 + 1 < hw ? LOAD4(in_off + 1, in) : zero;
      v2 = p0 + 2 < hw ? LOAD4(in_off + 2, in) : zero;
      v3 = zero;
    }
    const real4 w00 = LOAD4(w0_off, weight), w01 = LOAD4(w0_off + 1, weight);
    const real4 w02 = LOAD4(w0_off + 2, weight), w03 = LOAD4(w0_off + 3, weight);
    FACERT_MAC4(a00, v0, w00, w01, w02, w03);
    FACERT_MAC4(a01, v1, w00, w01, w02, w03);
    FACERT_MAC4(a02, v2, w00, w01, w02, w03);
    FACERT_MAC4(a03, v3, w00, w01, w02, w03);
    const real4 w10 = LOAD4(w1_off, weight), w11 = LOAD4(w1_off + 1, weight);
    const real4 w12 = LOAD4(w1_off + 2, weight), w13 = LOAD4(w1_off + 3, weight);
    FACERT_MAC4(a10, v0, w10, w11, w12, w13);
    FACERT_MAC4(a11, v1, w10, w11, w12, w13);
    FACERT_MAC4(a12, v2, w10, w11, w12, w13);
    FACERT_MAC4(a13, v3, w10, w11, w12, w13);
  }
  const int o0 = (n * out_cb_total + out_cb_offset + ob0) * hw + p0;
  STORE4(FACERT_ACTIVATE(a00, act), o0, out);
  if (p0 + 1 < hw) STORE4(FACERT_ACTIVATE(a01, act), o0 + 1, out);
  if (p0 + 2 < hw) STORE4(FACERT_ACTIVATE(a02, act), o0 + 2, out);
  if (p0 + 3 < hw) STORE4(FACERT_ACTIVATE(a03, act), o0 + 3, out);
  if (ob1 == ob0) return;
  const int o1 = o0 + hw;
  STORE4(FACERT_ACTIVATE(a10, act), o1, out);
  if (p0 + 1 < hw) STORE4(FACERT_ACTIVATE(a11, act), o1 + 1, out);
  if (p0 + 2 < hw) STORE4(FACERT_ACTIVATE(a12, act), o1 + 2, out);
  if (p0 + 3 < hw) STORE4(FACERT_ACTIVATE(a13, act), o1 + 3, out);
}

// Depthwise: groups = in channels = out channels, so channel c of the output reads only channel c of the input
// and one 4-channel block is a lane-wise real4 multiply-add per tap (no 4x4 weight block, no reduction across
// lanes). Weights: [cb][kh][kw][4 lanes], zero past the real channel count (padded lanes come out 0, the bias
// being zero there too). Covers MobileNet's 3x3 (stride 1 or 2, pad 1) and the global depthwise conv whose
// kernel is the whole map (a 1x1 output). Work-item: 4 consecutive output columns of one block, as conv2d; no
// local memory. Global size: (ceil(out_w / 4), out_h, N * cb).
__kernel void conv2d_depthwise(__global const storage_t* in, __global const storage_t* weight,
                               __global const float* bias, __global storage_t* out,
                               int cb, int in_h, int in_w, int out_h, int out_w, int out_cb_total, int out_cb_offset,
                               int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int act) {
  const int ox0 = get_global_id(0) * 4;
  const int oy = get_global_id(1);
  const int nb = get_global_id(2);
  if (ox0 >= out_w || oy >= out_h) return;
  const int n = nb / cb, b = nb - n * cb;
  const real4 bv = REAL4(vload4(b, bias));
  real4 acc0 = bv, acc1 = bv, acc2 = bv, acc3 = bv;
  const int iy0 = oy * sh - ph, ix0 = ox0 * sw - pw;
  const real4 zero = (real4)0;
  int w_off = b * kh * kw;
  for (int ky = 0; ky < kh; ++ky) {
    const int iy = iy0 + ky * dh;
    if (iy < 0 || iy >= in_h) { w_off += kw; continue; }
    const int row = (nb * in_h + iy) * in_w;
    for (int kx = 0; kx < kw; ++kx, ++w_off) {
      const int ix = ix0 + kx * dw;
      const real4 w = LOAD4(w_off, weight);
      const real4 v0 = (ix >= 0 && ix < in_w) ? LOAD4(row + ix, in) : zero;
      const real4 v1 = (ix + sw >= 0 && ix + sw < in_w) ? LOAD4(row + ix + sw, in) : zero;
      const real4 v2 = (ix + 2 * sw >= 0 && ix + 2 * sw < in_w) ? LOAD4(row + ix + 2 * sw, in) : zero;
      const real4 v3 = (ix + 3 * sw >= 0 && ix + 3 * sw < in_w) ? LOAD4(row + ix + 3 * sw, in) : zero;
      acc0 = mad(v0, w, acc0);
      acc1 = mad(v1, w, acc1);
      acc2 = mad(v2, w, acc2);
      acc3 = mad(v3, w, acc3);
    }
  }
  const int o = ((n * out_cb_total + out_cb_offset + b) * out_h + oy) * out_w + ox0;
  STORE4(FACERT_ACTIVATE(acc0, act), o, out);
  if (ox0 + 1 < out_w) STORE4(FACERT_ACTIVATE(acc1, act), o + 1, out);
  if (ox0 + 2 < out_w) STORE4(FACERT_ACTIVATE(acc2, act), o + 2, out);
  if (ox0 + 3 < out_w) STORE4(FACERT_ACTIVATE(acc3, act), o + 3, out);
}
