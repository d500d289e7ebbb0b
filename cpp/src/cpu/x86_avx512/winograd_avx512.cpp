// Winograd F(2x2, 3x3) on AVX-512: 16 output tiles per task, the transforms vectorised by the compiler
// with this file's flags (across tiles in the input transform, across 16 output channels in the output
// one). The point GEMMs run exactly the task's valid tiles (1..16 rows): a 6x6 output has 9 tiles, and
// rounding them up to 16 rows measured 25% slower on those layers.
#include <immintrin.h>

#include <array>
#include <utility>

#include "cpu/winograd_f23.hpp"

namespace facert::cpu::avx512 {

namespace {

constexpr int kMr = 16;

// c (ROWS x 16) = a (k x 16, first ROWS used) * b (k x 16): ROWS accumulators, one B load and ROWS
// broadcast-FMAs per k.
template <int ROWS>
void point_gemm(int k, const float* a, const float* b, float* c) {
  __m512 acc[ROWS];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) acc[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int p = 0; p < k; ++p, a += kMr, b += winograd::kLanes) {
    const __m512 bv = _mm512_loadu_ps(b);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), bv, acc[i]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) _mm512_storeu_ps(c + i * winograd::kLanes, acc[i]);
}

using PointGemm = void (*)(int, const float*, const float*, float*);

template <size_t... R>
constexpr auto point_gemms(std::index_sequence<R...>) {
  return std::array<PointGemm, sizeof...(R)>{point_gemm<int(R) + 1>...};
}

constexpr auto kPointGemms = point_gemms(std::make_index_sequence<kMr>());

// winograd::input_transform<16> with the 16 patch elements of 16 tiles fetched by gathers (32-bit offsets
// within one padded plane; the caller checks they fit) and the transform on zmm registers.
void input_transform_gather(const WinogradTask& t, float* v) {
  const __m512i patch = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_loadu_si512(t.patch))),
      _mm512_cvtepi64_epi32(_mm512_loadu_si512(t.patch + 8)), 1);
  __m512i index[4][4];
  for (int r = 0; r < 4; ++r)
    for (int x = 0; x < 4; ++x) index[r][x] = _mm512_add_epi32(patch, _mm512_set1_epi32(int(r * t.ld + x)));
  const int64_t xi_stride = int64_t(t.in_c) * kMr;
  for (int c = 0; c < t.in_c; ++c) {
    const float* src = t.padded + c * t.plane;
    __m512 w[4][4];  // B^T d
    for (int x = 0; x < 4; ++x) {
      const __m512 d0 = _mm512_i32gather_ps(index[0][x], src, 4), d1 = _mm512_i32gather_ps(index[1][x], src, 4);
      const __m512 d2 = _mm512_i32gather_ps(index[2][x], src, 4), d3 = _mm512_i32gather_ps(index[3][x], src, 4);
      w[0][x] = _mm512_sub_ps(d0, d2);
      w[1][x] = _mm512_add_ps(d1, d2);
      w[2][x] = _mm512_sub_ps(d2, d1);
      w[3][x] = _mm512_sub_ps(d1, d3);
    }
    float* dst = v + int64_t(c) * kMr;
    for (int r = 0; r < 4; ++r) {  // (B^T d) B
      _mm512_storeu_ps(dst + (r * 4 + 0) * xi_stride, _mm512_sub_ps(w[r][0], w[r][2]));
      _mm512_storeu_ps(dst + (r * 4 + 1) * xi_stride, _mm512_add_ps(w[r][1], w[r][2]));
      _mm512_storeu_ps(dst + (r * 4 + 2) * xi_stride, _mm512_sub_ps(w[r][2], w[r][1]));
      _mm512_storeu_ps(dst + (r * 4 + 3) * xi_stride, _mm512_sub_ps(w[r][1], w[r][3]));
    }
  }
}

}  // namespace

void winograd_f23(const WinogradTask& task) {
  const PointGemm gemm = kPointGemms[task.tiles - 1];
  const auto point_gemm = [gemm](int, int k, const float* a, const float* b, float* c) { gemm(k, a, b, c); };
  if (task.plane < (int64_t(1) << 31) / 2)
    winograd::run_task<kMr>(task, point_gemm, input_transform_gather);
  else  // offsets past 32 bits: the portable gather
    winograd::run_task<kMr>(task, point_gemm, [](const WinogradTask& t, float* v) {
      winograd::input_transform<kMr>(t.padded, t.ld, t.plane, t.in_c, t.patch, v);
    });
}

}  // namespace facert::cpu::avx512
