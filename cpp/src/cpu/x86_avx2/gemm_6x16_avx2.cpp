// AVX2/FMA GEMM microkernel, 6 x 16 tile: 12 ymm accumulators + 2 B vectors + 1 broadcast = 15
// of the 16 registers. Per k: 2 loads, 6 broadcasts, 12 FMAs (FMA-bound on two FMA ports).
#include <immintrin.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx2 {

namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

inline __m256 activate(__m256 v, Activation act, __m256 zero, __m256 six) {
  if (act == Activation::None) return v;
  v = _mm256_max_ps(zero, v);  // operand order keeps NaN: MAXPS/MINPS return the second when either is NaN
  return act == Activation::Relu6 ? _mm256_min_ps(six, v) : v;
}

void gemm_6x16(int k, const float* a, const float* b, int64_t ldb, const int64_t* brow, float* c, int64_t ldc, const float* bias,
               bool accumulate, bool apply_act, Activation act) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  // Unrolled by 4: 6% faster over SqueezeNet's layers than the plain loop (2: 5%, 8: same as 4).
#pragma GCC unroll 4
  for (int p = 0; p < k; ++p, a += kMr) {
    const float* row = brow ? b + brow[p] : b + p * ldb;
    const __m256 b0 = _mm256_loadu_ps(row);
    const __m256 b1 = _mm256_loadu_ps(row + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
  }
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.f);
  const __m256 acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < kMr; ++i) {
    float* row = c + i * ldc;
    __m256 base0, base1;
    if (accumulate) {
      base0 = _mm256_loadu_ps(row);
      base1 = _mm256_loadu_ps(row + 8);
    } else {
      base0 = base1 = _mm256_broadcast_ss(bias + i);
    }
    __m256 v0 = _mm256_add_ps(base0, acc[i][0]);
    __m256 v1 = _mm256_add_ps(base1, acc[i][1]);
    if (apply_act) {
      v0 = activate(v0, act, zero, six);
      v1 = activate(v1, act, zero, six);
    }
    _mm256_storeu_ps(row, v0);
    _mm256_storeu_ps(row + 8, v1);
  }
}

// 6 rows in the low lanes of one ymm; the masked loads never read past a panel's 6 floats.
void gemv_6(int k, const float* a, const float* x, const float* bias, float* y, Activation act) {
  const __m256i six_lanes = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  __m256 acc[4] = {_mm256_maskload_ps(bias, six_lanes), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int p = 0;
  for (; p + 4 <= k; p += 4)
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u)
      acc[u] = _mm256_fmadd_ps(_mm256_maskload_ps(a + (p + u) * kMr, six_lanes), _mm256_broadcast_ss(x + p + u), acc[u]);
  for (; p < k; ++p) acc[0] = _mm256_fmadd_ps(_mm256_maskload_ps(a + p * kMr, six_lanes), _mm256_broadcast_ss(x + p), acc[0]);
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  _mm256_maskstore_ps(y, six_lanes, activate(sum, act, _mm256_setzero_ps(), _mm256_set1_ps(6.f)));
}

}  // namespace

const GemmKernel kGemm6x16{kMr, kNr, gemm_6x16, "6x16", gemv_6};

}  // namespace facert::cpu::avx2
