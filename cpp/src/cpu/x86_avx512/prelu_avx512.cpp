// AVX-512 PReLU of one channel plane: max(x, 0) + slope * min(x, 0), the masked tail in the same loop.
#include <immintrin.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx512 {

void prelu(const float* x, float* y, int64_t n, float slope) {
  const __m512 zero = _mm512_setzero_ps(), a = _mm512_set1_ps(slope);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    // x second: MAXPS/MINPS return their second operand when either is NaN, so NaN stays NaN
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(a, _mm512_min_ps(zero, v), _mm512_max_ps(zero, v)));
  }
}

}  // namespace facert::cpu::avx512
