// AVX2 pieces of the separable maxpool2d (cpu/maxpool2d.cpp): the elementwise max of input rows,
// and the 3-wide stride-2 max along x (SqueezeNet's 3x3/2 pool) with even/odd de-interleaving.
#include <immintrin.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx2 {

namespace {
// The even elements of p[0..16): p[0], p[2], ..., p[14].
inline __m256 evens(const float* p) {
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  // per lane: a0 a2 b0 b2 | a4 a6 b4 b6 -> reorder the 64-bit pairs to a0 a2 a4 a6 b0 b2 b4 b6
  const __m256 mixed = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
}

// max that keeps a NaN from either side, as PyTorch's pooling: MAXPS alone returns b when either is NaN.
inline __m256 max_nan(__m256 a, __m256 b) {
  return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
inline __m128 max_nan(__m128 a, __m128 b) { return _mm_blendv_ps(_mm_max_ps(a, b), a, _mm_cmpunord_ps(a, a)); }
}  // namespace

void max_into(float* acc, const float* row, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(acc + i, max_nan(_mm256_loadu_ps(acc + i), _mm256_loadu_ps(row + i)));
  if (i + 4 <= n) {
    _mm_storeu_ps(acc + i, max_nan(_mm_loadu_ps(acc + i), _mm_loadu_ps(row + i)));
    i += 4;
  }
  for (; i < n; ++i) acc[i] = cpu::max_nan(acc[i], row[i]);
}

int max3_stride2(const float* row, int avail, int count, float* out) {
  int i = 0;
  // outputs i..i+7 read row[2i .. 2i+18) through the three de-interleaving loads (the caller's
  // slack covers the last two floats); masked tails measured slower than the scalar loop
  for (; i + 8 <= count && 2 * i + 18 <= avail; i += 8) {
    const float* p = row + 2 * i;
    _mm256_storeu_ps(out + i, max_nan(max_nan(evens(p), evens(p + 1)), evens(p + 2)));
  }
  return i;
}

}  // namespace facert::cpu::avx2
