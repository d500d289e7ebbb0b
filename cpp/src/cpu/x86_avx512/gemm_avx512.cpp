// AVX-512F GEMM microkernels. 32 zmm registers: MR x (NV*16) accumulators + NV B vectors; the A
// element is broadcast straight from memory into the FMA ({1to16}), so it needs no register.
// Per k: NV loads, MR broadcasts, MR*NV FMAs.
#include <immintrin.h>

#include <array>
#include <utility>

#include "cpu/kernel_table.hpp"
#include "cpu/x86_avx512/activate.hpp"

namespace facert::cpu::avx512 {

namespace {

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

// 8 rows x N columns (N <= 8) as N column vectors of the 8 rows: per k one A load and N broadcast-FMAs, where
// the 16-column half tile spends 8 FMAs whatever the columns. For the last 4 columns of a 6x6 map.
template <int N>
void gemm_columns(int k, const float* a, const float* b, int64_t ldb, const int64_t* brow, float* c, int64_t ldc,
                  const float* bias, bool accumulate, bool apply_act, Activation act) {
  __m256 acc[N];
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int p = 0; p < k; ++p, a += 8) {
    const float* row = brow ? b + brow[p] : b + p * ldb;
    const __m256 av = _mm256_loadu_ps(a);
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) acc[j] = _mm256_fmadd_ps(av, _mm256_set1_ps(row[j]), acc[j]);
  }
  const __m256 base = _mm256_loadu_ps(bias);
  const __m256i rows = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // row i of C at c + i * ldc: ldc is a plane (or the scratch tile's NR), 7 * ldc far below 2^31 floats
  const __m256i offsets = _mm256_mullo_epi32(rows, _mm256_set1_epi32(int(ldc)));
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    const __m256 v = _mm256_add_ps(accumulate ? _mm256_i32gather_ps(c + j, offsets, 4) : base, acc[j]);
    _mm256_i32scatter_ps(c + j, offsets, apply_act ? activate(v, act) : v, 4);
  }
}

template <size_t... N>
constexpr std::array<GemmMicroKernel, sizeof...(N)> column_kernels(std::index_sequence<N...>) {
  return {gemm_columns<int(N) + 1>...};
}
constexpr auto kColumns8 = column_kernels(std::make_index_sequence<8>());

// One 8-row panel: ymm, four chains to hide the FMA latency.
void gemv_8(int k, const float* a, const float* x, const float* bias, float* y, Activation act) {
  __m256 acc[4] = {_mm256_loadu_ps(bias), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int p = 0;
  for (; p + 4 <= k; p += 4)
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) acc[u] = _mm256_fmadd_ps(_mm256_loadu_ps(a + (p + u) * 8), _mm256_set1_ps(x[p + u]), acc[u]);
  for (; p < k; ++p) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + p * 8), _mm256_set1_ps(x[p]), acc[0]);
  _mm256_storeu_ps(y, activate(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])), act));
}

}  // namespace

// 8 x 32: 16 accumulators, per k two B loads and 8 broadcasts for 16 FMAs. Zen 5 runs a zmm FMA at full
// width, two per cycle, and 16x16's 17 loads per 16 FMAs (one B load, 16 broadcasts) bound it by the load
// ports: on that core, tiles alone (L1/L2-resident SqueezeNet shapes, K 16..512), 8x32 ran 126-133 G MAC/s
// (98% of its FMA peak), 12x32 and 14x32 the same, 6x64 124-130, 16x16 97-113. (On Zen 4, which splits a zmm
// FMA in two, 16x16 had measured 3-10% ahead of 8x32.) 8 rows divide every channel count of the students;
// the 16-column half and the column tiles serve narrow last panels (a 6x6 map's 36 columns: 32 + 4).
const GemmKernel kGemm8x32{8, 32, gemm_tile<8, 2>, "8x32", gemv_8, gemm_tile<8, 1>, kColumns8.data(), 8};

// 4 x 64 for convs with at most 4 output channels (MTCNN P-Net's heads): 16 accumulators, per k four B loads and
// four broadcasts for 16 FMAs, where 16x16 would spend 16 FMAs on 2..4 useful rows.
const GemmKernel kGemm4x64{4, 64, gemm_tile<4, 4>, "4x64"};

}  // namespace facert::cpu::avx512
