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

}  // namespace

void winograd_f23(const WinogradTask& task) {
  const PointGemm gemm = kPointGemms[task.tiles - 1];
  winograd::run_task<kMr>(task, [gemm](int, int k, const float* a, const float* b, float* c) { gemm(k, a, b, c); });
}

}  // namespace facert::cpu::avx512
