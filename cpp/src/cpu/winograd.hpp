// Internal: Winograd F(mxm, 3x3), m = 2 or 4, for 3x3 stride-1 convolutions (Lavin & Gray 2016; ncnn's
// trick). An m x m output tile comes from an n x n input patch, n = m + 2, with n*n multiplies per (in, out)
// channel pair instead of 9*m*m: F(2,3) 16 for 4 outputs, F(4,3) 36 for 16. The n*n transform points (xi)
// become n*n small GEMMs over channels, run on the ISA's point GEMM with tiles as its rows and output
// channels as its 16 columns.
//   input:  V = B^T d B of each n x n input patch d
//   weight: U = G g G^T (conv2d_winograd.cpp, once per layer)
//   output: Y = A^T M A, M = sum over input channels of U * V
// F(2,3), points 0, 1, -1, inf:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1]
// F(4,3), points 0, 1, -1, 2, -2, inf:
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// F(2,3)'s data transforms are only adds (a few fp32 roundings over the direct sum); F(4,3)'s scale by up to
// 8 and 1/24 and cancel, which costs about one decimal digit (tests/test_ops_conv2d.py states both).
// Everything here has internal linkage: the ISA files compile it with their own vector flags, and one
// out-of-line copy built with AVX-512 must never be linked into the AVX2 or portable callers.
#pragma once
#include <cstdint>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::winograd {
namespace {

constexpr int kLanes = 16;  // output channels per GEMM column panel

constexpr int points(int m) { return (m + 2) * (m + 2); }

// The 1-d transforms, on any T with + and - and a float scale (float, SIMD vectors, Lanes below): input
// v = B^T d, weight u = G g, output y = A^T m. The 2-d ones apply them along columns, then rows.
template <int M>
struct Tile;

template <>
struct Tile<2> {
  template <class T>
  static void input(const T* d, T* v) {
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
    v[3] = d[1] - d[3];
  }
  template <class T>
  static void weight(const T* g, T* u) {
    u[0] = g[0];
    u[1] = 0.5f * (g[0] + g[1] + g[2]);
    u[2] = 0.5f * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  }
  template <class T>
  static void output(const T* m, T* y) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
};

template <>
struct Tile<4> {
  template <class T>
  static void input(const T* d, T* v) {
    const T s12 = d[1] + d[2], d12 = d[1] - d[2], s34 = d[3] + d[4], d43 = d[4] - d[3];
    const T d42 = d[4] - d[2], d31 = d[3] - d[1];
    v[0] = 4.f * d[0] - 5.f * d[2] + d[4];
    v[1] = s34 - 4.f * s12;
    v[2] = d43 + 4.f * d12;
    v[3] = d42 + 2.f * d31;
    v[4] = d42 - 2.f * d31;
    v[5] = 4.f * d[1] - 5.f * d[3] + d[5];
  }
  template <class T>
  static void weight(const T* g, T* u) {
    u[0] = 0.25f * g[0];
    u[1] = (-1.f / 6) * (g[0] + g[1] + g[2]);
    u[2] = (-1.f / 6) * (g[0] - g[1] + g[2]);
    u[3] = (1.f / 24) * g[0] + (1.f / 12) * g[1] + (1.f / 6) * g[2];
    u[4] = (1.f / 24) * g[0] - (1.f / 12) * g[1] + (1.f / 6) * g[2];
    u[5] = g[2];
  }
  template <class T>
  static void output(const T* m, T* y) {
    const T s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    y[0] = m[0] + s12 + s34;
    y[1] = d12 + 2.f * d34;
    y[2] = s12 + 4.f * s34;
    y[3] = d12 + 8.f * d34 + m[5];
  }
};

// V = B^T d B of one patch: d(r, x) is the patch's value at row r, column x; v(xi, value) takes point
// xi = r * n + x. Always inlined (also output_2d): as calls per channel or tile they measured 5-10% slower.
template <int M, class Load, class Store>
[[gnu::always_inline]] inline void input_2d(const Load& d, const Store& v) {
  constexpr int N = M + 2;
  using T = decltype(d(0, 0));
  T w[N][N];  // B^T d
  for (int x = 0; x < N; ++x) {
    T col[N], out[N];
    for (int r = 0; r < N; ++r) col[r] = d(r, x);
    Tile<M>::input(col, out);
    for (int r = 0; r < N; ++r) w[r][x] = out[r];
  }
  for (int r = 0; r < N; ++r) {  // (B^T d) B
    T out[N];
    Tile<M>::input(w[r], out);
    for (int x = 0; x < N; ++x) v(r * N + x, out[x]);
  }
}

// Y = A^T M A of one tile: m(xi) is point xi; y(r, x, value) takes output pixel (r, x).
template <int M, class Load, class Store>
[[gnu::always_inline]] inline void output_2d(const Load& m, const Store& y) {
  constexpr int N = M + 2;
  using T = decltype(m(0));
  T u[M][N];  // A^T M
  for (int x = 0; x < N; ++x) {
    T col[N], out[M];
    for (int r = 0; r < N; ++r) col[r] = m(r * N + x);
    Tile<M>::output(col, out);
    for (int r = 0; r < M; ++r) u[r][x] = out[r];
  }
  for (int r = 0; r < M; ++r) {  // (A^T M) A
    T out[M];
    Tile<M>::output(u[r], out);
    for (int x = 0; x < M; ++x) y(r, x, out[x]);
  }
}

// W floats handled as one value: the portable transforms run on W tiles or W channels at once, in loops
// the compiler vectorises with the including file's flags.
template <int W>
struct Lanes {
  float v[W];
};
template <int W>
Lanes<W> operator+(const Lanes<W>& a, const Lanes<W>& b) {
  Lanes<W> r;
  for (int i = 0; i < W; ++i) r.v[i] = a.v[i] + b.v[i];
  return r;
}
template <int W>
Lanes<W> operator-(const Lanes<W>& a, const Lanes<W>& b) {
  Lanes<W> r;
  for (int i = 0; i < W; ++i) r.v[i] = a.v[i] - b.v[i];
  return r;
}
template <int W>
Lanes<W> operator*(float s, const Lanes<W>& a) {
  Lanes<W> r;
  for (int i = 0; i < W; ++i) r.v[i] = s * a.v[i];
  return r;
}

// Activation on one value, NaN kept (a comparison with NaN is false, so NaN falls through).
inline float activate(float v, Activation act) {
  if (act == Activation::None) return v;
  v = v < 0.f ? 0.f : v;
  return act == Activation::Relu6 && v > 6.f ? 6.f : v;
}

// Input transform of MR tiles for `channels` channels: patch[t] is tile t's n x n patch top-left in
// plane 0 of the zero-padded input (row stride ld, channel stride plane). Writes v[xi][c][t], the point
// GEMM's A layout (k = channel, MR rows = tiles) for each point xi.
template <int M, int MR>
void input_transform(const float* padded, int64_t ld, int64_t plane, int channels, const int64_t* patch, float* v) {
  const int64_t xi_stride = int64_t(channels) * MR;
  for (int c = 0; c < channels; ++c) {
    const float* src = padded + c * plane;
    float* dst = v + int64_t(c) * MR;
    input_2d<M>(
        [=](int r, int x) {
          Lanes<MR> d;
          for (int t = 0; t < MR; ++t) d.v[t] = src[patch[t] + r * ld + x];
          return d;
        },
        [=](int xi, const Lanes<MR>& value) {
          for (int t = 0; t < MR; ++t) dst[xi * xi_stride + t] = value.v[t];
        });
  }
}

// Output transform of one tile for kLanes output channels: m[xi * m_stride + j] holds point xi of channel
// j. Adds the bias, applies act and stores the tile's rows x cols valid pixels of its `lanes` valid
// channels at out[j * out_plane + y * out_w + x].
template <int M>
void output_transform(const float* m, int64_t m_stride, const float* bias, Activation act, float* out,
                      int64_t out_plane, int out_w, int rows, int cols, int lanes) {
  using L = Lanes<kLanes>;
  L y[M][M];
  output_2d<M>(
      [=](int xi) {
        L v;
        for (int j = 0; j < kLanes; ++j) v.v[j] = m[xi * m_stride + j];
        return v;
      },
      [&](int r, int x, const L& value) {
        for (int j = 0; j < kLanes; ++j) y[r][x].v[j] = activate(bias[j] + value.v[j], act);
      });
  for (int j = 0; j < lanes; ++j)
    for (int r = 0; r < rows; ++r)
      for (int x = 0; x < cols; ++x) out[j * out_plane + int64_t(r) * out_w + x] = y[r][x].v[j];
}

// One task of F(MxM, 3x3): MR tiles x output-channel panels [panel_begin, panel_end), two panels at a time where
// the task has at most PAIR_ROWS tiles (0: never). scratch: points(M) * in_c * MR floats for V, then
// points(M) * 2 * MR * kLanes for M. gemm(rows, k, a, b, c, panels): for each of `panels` (1 or 2) panels q,
// c + q*MR*kLanes (rows x 16, row stride 16) = a (k x MR, rows used) * (b + q * k * kLanes) (k x 16: U's panels
// of one point are adjacent); rows = the task's valid tiles, which a kernel may round up to MR. transform(job,
// v): the input transform (input_transform<M, MR> unless the ISA has a faster one); output:
// output_transform<M>, or an ISA's own with its signature.
template <int M, int MR, int PAIR_ROWS, class PointGemm, class InputTransform, class OutputTransform>
void run_task(const WinogradTask& job, const PointGemm& gemm, const InputTransform& transform,
              const OutputTransform& output) {
  constexpr int kPoints = points(M);
  float* v = job.scratch;
  float* m = v + int64_t(kPoints) * job.in_c * MR;
  transform(job, v);
  const int64_t v_stride = int64_t(job.in_c) * MR;
  const int step = job.tiles <= PAIR_ROWS ? 2 : 1;
  for (int p = job.panel_begin; p < job.panel_end; p += step) {
    const int panels = job.panel_end - p < step ? 1 : step;
    const int64_t m_stride = int64_t(panels) * MR * kLanes;  // one panel's M stays as compact as it was
    for (int xi = 0; xi < kPoints; ++xi)
      gemm(job.tiles, job.in_c, v + xi * v_stride, job.u + (int64_t(xi) * job.panels + p) * job.in_c * kLanes,
           m + xi * m_stride, panels);
    for (int q = 0; q < panels; ++q) {
      const int first = (p + q) * kLanes;
      const int lanes = job.out_c - first < kLanes ? job.out_c - first : kLanes;
      for (int t = 0; t < job.tiles; ++t) {
        const int oy = job.tile_y[t], ox = job.tile_x[t];
        const int rows = job.out_h - oy < M ? job.out_h - oy : M, cols = job.out_w - ox < M ? job.out_w - ox : M;
        output(m + q * MR * kLanes + t * kLanes, m_stride, job.bias + first, job.act,
               job.out + first * job.out_plane + int64_t(oy) * job.out_w + ox, job.out_plane, job.out_w, rows, cols,
               lanes);
      }
    }
  }
}

}  // namespace
}  // namespace facert::cpu::winograd
