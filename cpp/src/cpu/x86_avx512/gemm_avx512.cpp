// AVX-512F GEMM microkernel. 32 zmm registers: MR x (NV*16) accumulators + NV B vectors; the A
// element is broadcast straight from memory into the FMA ({1to16}), so it needs no register.
// Per k: NV loads, MR broadcasts, MR*NV FMAs.
#include <immintrin.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx512 {

namespace {

// NaN rule: x86 max/min return their SECOND operand when either is NaN, so the value goes second and
// a NaN output stays NaN (as PyTorch's relu does).
inline __m512 activate(__m512 v, Activation act, __m512 zero, __m512 six) {
  if (act == Activation::None) return v;
  v = _mm512_max_ps(zero, v);
  return act == Activation::Relu6 ? _mm512_min_ps(six, v) : v;
}

template <int MR, int NV>
void gemm_tile(int k, const float* a, const float* b, int64_t ldb, const int64_t* brow, float* c, int64_t ldc, const float* bias, bool accumulate,
               bool apply_act, Activation act) {
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int p = 0; p < k; ++p, a += MR) {
    const float* row = brow ? b + brow[p] : b + p * ldb;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(row + 16 * j);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(ai, bv[j], acc[i][j]);
    }
  }
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const __m512 base = accumulate ? _mm512_loadu_ps(row + 16 * j) : _mm512_set1_ps(bias[i]);
      __m512 v = _mm512_add_ps(base, acc[i][j]);
      if (apply_act) v = activate(v, act, zero, six);
      _mm512_storeu_ps(row + 16 * j, v);
    }
  }
}

void gemv_16(int k, const float* a, const float* x, const float* bias, float* y, Activation act) {
  __m512 acc[4] = {_mm512_loadu_ps(bias), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int p = 0;
  for (; p + 4 <= k; p += 4)  // four chains hide the FMA latency
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(a + (p + u) * 16), _mm512_set1_ps(x[p + u]), acc[u]);
  for (; p < k; ++p) acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(a + p * 16), _mm512_set1_ps(x[p]), acc[0]);
  const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
  _mm512_storeu_ps(y, activate(sum, act, _mm512_setzero_ps(), _mm512_set1_ps(6.f)));
}

}  // namespace

// 16 x 16: 16 accumulators, per k one B load and 16 broadcast-FMAs. Over SqueezeNet v1.1's convs at
// 112/224 px (1 thread, this Zen 4 machine, loaded) it measured 3-7% faster than AVX2's 6x16, and ahead
// of 8x48 (-1%/+3%), 8x32 (+10%/+4%), 12x32 and 14x32 (+16-20%): its channel blocks divide the
// network's 16..512 channels and its 16 columns waste least on the 6x6 and 13x13 layers. Zen 4 runs a zmm
// FMA as two ymm halves, so the gain is fewer instructions and loads, not a wider FMA.
const GemmKernel kGemm16x16{16, 16, gemm_tile<16, 1>, "16x16", gemv_16};

// 4 x 64 for convs with at most 4 output channels (MTCNN P-Net's heads): 16 accumulators, per k four B loads and
// four broadcasts for 16 FMAs, where 16x16 would spend 16 FMAs on 2..4 useful rows.
const GemmKernel kGemm4x64{4, 64, gemm_tile<4, 4>, "4x64"};

}  // namespace facert::cpu::avx512
