// AVX-512 3x3 and 2x2 stride-2 max pooling of a plane's output rows (SqueezeNet's and MTCNN's P-Net's pools), edges
// included: masked loads
// read only inside the row and give -inf elsewhere (PyTorch's padding), so there are no scalar edge or
// tail loops. A NaN anywhere in a window gives NaN, as PyTorch's pooling does.
#include <immintrin.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx512 {

namespace {

// max that keeps a NaN from either side: MAXPS alone returns b when either is NaN. (VRANGEPS's max, one
// instruction, does not keep it.)
inline __m512 max_nan(__m512 a, __m512 b) {
  return _mm512_mask_mov_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

// Lanes l with 0 <= x + l < in_w.
inline __mmask16 inside(int x, int in_w) {
  const int lo = x < 0 ? -x : 0, hi = in_w - x < 16 ? in_w - x : 16;
  if (hi <= lo) return 0;
  return __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// max over the three rows of row[x .. x+16) in the lanes inside the row, -inf elsewhere: plain loads where all
// 16 are inside (masked loads throughout: 1.2-1.4x the time on 55- and 111-wide rows).
inline __m512 column_max(const float* const rows[3], int x, int in_w) {
  if (x >= 0 && x + 16 <= in_w)
    return max_nan(max_nan(_mm512_loadu_ps(rows[0] + x), _mm512_loadu_ps(rows[1] + x)), _mm512_loadu_ps(rows[2] + x));
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  const __mmask16 m = inside(x, in_w);
  const __m512 a = _mm512_mask_loadu_ps(ninf, m, rows[0] + x), b = _mm512_mask_loadu_ps(ninf, m, rows[1] + x);
  return max_nan(max_nan(a, b), _mm512_mask_loadu_ps(ninf, m, rows[2] + x));
}

// The window rows of output row oy, clipped to the plane (a clipped window repeats its last row).
template <int K>
inline void window_rows(const PoolRows& p, int oy, const float* rows[K]) {
  int y0, y1;
  pool_window_rows(oy, K, p.sh, p.ph, p.in_h, &y0, &y1);
  for (int r = 0; r < K; ++r) rows[r] = p.in + int64_t(y0 + r < y1 ? y0 + r : y1 - 1) * p.in_w;
}

}  // namespace

// 15 outputs per step: their windows span the 31 input columns x .. x+30, two vectors, so each input element
// is loaded once (16 outputs would need a third vector for one column).
void max3x3_stride2_rows(const PoolRows& p) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i next = _mm512_add_epi32(even, _mm512_set1_epi32(2));  // lane 15 wraps to 0: never stored
  for (int oy = p.oy_begin; oy < p.oy_end; ++oy) {
    const float* rows[3];
    window_rows<3>(p, oy, rows);
    float* out = p.out + int64_t(oy) * p.out_w;
    for (int ox = 0; ox < p.out_w; ox += 15) {
      const int x = 2 * ox - p.pw;  // first input column of window ox
      const int n = p.out_w - ox < 15 ? p.out_w - ox : 15;
      // up to 7 outputs read only columns x .. x+14: b is not needed (a 13-px plane's whole row)
      const __m512 a = column_max(rows, x, p.in_w), b = n <= 7 ? a : column_max(rows, x + 16, p.in_w);
      const __m512 e = _mm512_permutex2var_ps(a, even, b);   // column x + 2i
      const __m512 o = _mm512_permutex2var_ps(a, odd, b);    // x + 2i + 1
      const __m512 e2 = _mm512_permutex2var_ps(a, next, b);  // x + 2i + 2
      _mm512_mask_storeu_ps(out + ox, __mmask16((1u << n) - 1), max_nan(max_nan(e, o), e2));
    }
  }
}

// 16 outputs per step: their windows are the 32 input columns x .. x+31 of two rows, two vectors.
void max2x2_stride2_rows(const PoolRows& p) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  for (int oy = p.oy_begin; oy < p.oy_end; ++oy) {
    const float* rows[2];
    window_rows<2>(p, oy, rows);
    float* out = p.out + int64_t(oy) * p.out_w;
    for (int ox = 0; ox < p.out_w; ox += 16) {
      const int x = 2 * ox - p.pw;
      const __mmask16 ma = inside(x, p.in_w), mb = inside(x + 16, p.in_w);
      const __m512 a = max_nan(_mm512_mask_loadu_ps(ninf, ma, rows[0] + x), _mm512_mask_loadu_ps(ninf, ma, rows[1] + x));
      const __m512 b = max_nan(_mm512_mask_loadu_ps(ninf, mb, rows[0] + x + 16),
                               _mm512_mask_loadu_ps(ninf, mb, rows[1] + x + 16));
      const int n = p.out_w - ox < 16 ? p.out_w - ox : 16;
      _mm512_mask_storeu_ps(out + ox, __mmask16((1u << n) - 1),
                            max_nan(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b)));
    }
  }
}

}  // namespace facert::cpu::avx512
