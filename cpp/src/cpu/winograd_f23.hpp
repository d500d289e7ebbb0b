// Internal: Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray 2016; ncnn's trick): each
// 2x2 output tile costs 16 multiplies per (in, out) channel pair instead of 36. The 16 transform points
// (xi) become 16 small GEMMs over channels, run on the ISA's GEMM microkernel with tiles as its rows and
// output channels as its 16 columns.
//   input:  V = B^T d B of each 4x4 input patch d, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   weight: U = G g G^T (conv2d_winograd.cpp, once), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   output: Y = A^T M A, M = sum over input channels of U * V, A^T = [1 1 1 0; 0 1 -1 -1]
// The transforms are only adds: the error added over the direct sum is a few fp32 roundings (tested).
// Included only by the ISA files, which compile this template with their own vector flags.
#pragma once
#include <cstdint>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::winograd {

constexpr int kPoints = 16;  // 4x4 transform points
constexpr int kLanes = 16;   // output channels per GEMM column panel (the microkernel's NR)

// Activation on one value, NaN kept (a comparison with NaN is false, so NaN falls through).
inline float activate(float v, Activation act) {
  if (act == Activation::None) return v;
  v = v < 0.f ? 0.f : v;
  return act == Activation::Relu6 && v > 6.f ? 6.f : v;
}

// Input transform of MR tiles for `channels` channels: patch[t] is tile t's 4x4 patch top-left in
// plane 0 of the zero-padded input (row stride ld, channel stride plane). Writes v[xi][c][t], the
// microkernel's packed A layout (k = channel, MR rows = tiles) for each point xi.
template <int MR>
void input_transform(const float* padded, int64_t ld, int64_t plane, int channels, const int64_t* patch,
                     float* v) {
  const int64_t xi_stride = int64_t(channels) * MR;
  for (int c = 0; c < channels; ++c) {
    const float* src = padded + c * plane;
    float d[4][4][MR];
    for (int t = 0; t < MR; ++t)
      for (int r = 0; r < 4; ++r)
        for (int x = 0; x < 4; ++x) d[r][x][t] = src[patch[t] + r * ld + x];
    float w[4][4][MR];  // B^T d
    for (int x = 0; x < 4; ++x)
      for (int t = 0; t < MR; ++t) {
        w[0][x][t] = d[0][x][t] - d[2][x][t];
        w[1][x][t] = d[1][x][t] + d[2][x][t];
        w[2][x][t] = d[2][x][t] - d[1][x][t];
        w[3][x][t] = d[1][x][t] - d[3][x][t];
      }
    float* dst = v + int64_t(c) * MR;
    for (int r = 0; r < 4; ++r)  // (B^T d) B
      for (int t = 0; t < MR; ++t) {
        dst[(r * 4 + 0) * xi_stride + t] = w[r][0][t] - w[r][2][t];
        dst[(r * 4 + 1) * xi_stride + t] = w[r][1][t] + w[r][2][t];
        dst[(r * 4 + 2) * xi_stride + t] = w[r][2][t] - w[r][1][t];
        dst[(r * 4 + 3) * xi_stride + t] = w[r][1][t] - w[r][3][t];
      }
  }
}

// Output transform of one tile for kLanes output channels: m[xi * m_stride + j] holds point xi of channel
// j. Adds the bias, applies act and stores the tile's rows x cols valid pixels of its `lanes` valid
// channels at out[j * out_plane + y * out_w + x].
inline void output_transform(const float* m, int64_t m_stride, const float* bias, Activation act, float* out,
                             int64_t out_plane, int out_w, int rows, int cols, int lanes) {
  float u[2][4][kLanes];  // A^T M
  for (int x = 0; x < 4; ++x)
    for (int j = 0; j < kLanes; ++j) {
      const float m0 = m[(0 * 4 + x) * m_stride + j], m1 = m[(1 * 4 + x) * m_stride + j];
      const float m2 = m[(2 * 4 + x) * m_stride + j], m3 = m[(3 * 4 + x) * m_stride + j];
      u[0][x][j] = m0 + m1 + m2;
      u[1][x][j] = m1 - m2 - m3;
    }
  float y[2][2][kLanes];  // (A^T M) A, + bias, activation
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < kLanes; ++j) {
      y[r][0][j] = activate(bias[j] + (u[r][0][j] + u[r][1][j] + u[r][2][j]), act);
      y[r][1][j] = activate(bias[j] + (u[r][1][j] - u[r][2][j] - u[r][3][j]), act);
    }
  for (int j = 0; j < lanes; ++j)
    for (int r = 0; r < rows; ++r)
      for (int x = 0; x < cols; ++x) out[j * out_plane + int64_t(r) * out_w + x] = y[r][x][j];
}

// One task: MR tiles x output-channel panels [panel_begin, panel_end). scratch: kPoints * in_c * MR
// floats for V, then kPoints * MR * kLanes for M. gemm(rows, k, a, b, c): c (rows x 16, row stride 16) =
// a (k x MR, rows used) * b (k x 16); rows = the task's valid tiles, which a kernel may round up to MR.
// transform(job, v): the input transform (input_transform<MR> unless the ISA has a faster one).
template <int MR, class PointGemm, class InputTransform>
void run_task(const WinogradTask& job, const PointGemm& gemm, const InputTransform& transform) {
  float* v = job.scratch;
  float* m = v + int64_t(kPoints) * job.in_c * MR;
  transform(job, v);
  const int64_t v_stride = int64_t(job.in_c) * MR, m_stride = int64_t(MR) * kLanes;
  for (int p = job.panel_begin; p < job.panel_end; ++p) {
    for (int xi = 0; xi < kPoints; ++xi)
      gemm(job.tiles, job.in_c, v + xi * v_stride, job.u + (int64_t(xi) * job.panels + p) * job.in_c * kLanes,
           m + xi * m_stride);
    const int lanes = job.out_c - p * kLanes < kLanes ? job.out_c - p * kLanes : kLanes;
    for (int t = 0; t < job.tiles; ++t) {
      const int oy = job.tile_y[t], ox = job.tile_x[t];
      const int rows = job.out_h - oy < 2 ? 1 : 2, cols = job.out_w - ox < 2 ? 1 : 2;
      output_transform(m + t * kLanes, m_stride, job.bias + p * kLanes, job.act,
                       job.out + int64_t(p) * kLanes * job.out_plane + int64_t(oy) * job.out_w + ox, job.out_plane,
                       job.out_w, rows, cols, lanes);
    }
  }
}

}  // namespace facert::cpu::winograd
