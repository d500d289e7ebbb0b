// AVX2 PReLU of one channel plane: max(x, 0) + slope * min(x, 0); a scalar tail of under 8 elements.
#include <immintrin.h>

#include <algorithm>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx2 {

void prelu(const float* x, float* y, int64_t n, float slope) {
  const __m256 zero = _mm256_setzero_ps(), a = _mm256_set1_ps(slope);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    // x second: MAXPS/MINPS return their second operand when either is NaN, so NaN stays NaN
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_min_ps(zero, v), _mm256_max_ps(zero, v)));
  }
  for (; i < n; ++i) y[i] = prelu_scalar(x[i], slope);
}

}  // namespace facert::cpu::avx2
