// Winograd F(2x2, 3x3) and F(4x4, 3x3) on AVX-512: 16 output tiles per task, the input transform on zmm
// registers across tiles, the output one vectorised by the compiler with this file's flags across 16 output
// channels. The point GEMMs run exactly the task's valid tiles (1..16 rows): a 6x6 output has 9 F(2,3)
// tiles, and rounding them up to 16 rows measured 25% slower on those layers.
#include <immintrin.h>

#include <array>
#include <utility>

#include "cpu/winograd.hpp"
#include "cpu/x86_avx512/activate.hpp"

namespace facert::cpu::avx512 {

namespace {

constexpr int kMr = 16;

// c (ROWS x 16) = a (k x 16, first ROWS used) * b (k x 16): ROWS accumulators, one B load and ROWS
// broadcast-FMAs per k: a lone panel, or panels of a task with more than kPairRows tiles.
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

// Two panels at once: c (ROWS x 16) and c + kMr*16 = a (k x 16, first ROWS used) * b and * (b + k*16): two B
// loads and ROWS broadcasts per 2*ROWS FMAs (2*ROWS + 2 <= 30 registers), where one panel at a time spends a
// broadcast per FMA and is bound by the load ports on a core with two full-width FMA pipes (Zen 5; see
// gemm_avx512.cpp).
template <int ROWS>
void point_gemm_pair(int k, const float* a, const float* b, float* c) {
  __m512 acc0[ROWS], acc1[ROWS];
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  const float* b1 = b + int64_t(k) * winograd::kLanes;
#pragma GCC unroll 2
  for (int p = 0; p < k; ++p, a += kMr, b += winograd::kLanes, b1 += winograd::kLanes) {
    const __m512 bv0 = _mm512_loadu_ps(b), bv1 = _mm512_loadu_ps(b1);
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, bv0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, bv1, acc1[i]);
    }
  }
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i) {
    _mm512_storeu_ps(c + i * winograd::kLanes, acc0[i]);
    _mm512_storeu_ps(c + (kMr + i) * winograd::kLanes, acc1[i]);
  }
}

using PointGemm = void (*)(int, const float*, const float*, float*);

template <size_t... R>
constexpr auto point_gemms(std::index_sequence<R...>) {
  return std::array<PointGemm, sizeof...(R)>{point_gemm<int(R) + 1>...};
}
template <size_t... R>
constexpr auto point_gemm_pairs(std::index_sequence<R...>) {
  return std::array<PointGemm, sizeof...(R)>{point_gemm_pair<int(R) + 1>...};
}

constexpr int kPairRows = 14;
constexpr auto kPointGemms = point_gemms(std::make_index_sequence<kMr>());
constexpr auto kPointGemmPairs = point_gemm_pairs(std::make_index_sequence<kPairRows>());

// run_task's point GEMM: a pair of panels in one pass (run_task pairs only tasks of at most kPairRows tiles).
void point_gemm_panels(int rows, int k, const float* a, const float* b, float* c, int panels) {
  (panels == 2 ? kPointGemmPairs[rows - 1] : kPointGemms[rows - 1])(k, a, b, c);
}

// In-lane 4x4 transposes: z[q] holds, in 128-bit lane j, four consecutive columns of tile 4j + q's patch row;
// out[x] gets column x of that row for the 16 tiles, tile t in lane t (count: the columns wanted, 2 or 4).
inline void transpose_lanes(const __m512 z[4], __m512* out, int count) {
  const __m512 t0 = _mm512_unpacklo_ps(z[0], z[1]), t2 = _mm512_unpacklo_ps(z[2], z[3]);
  out[0] = _mm512_shuffle_ps(t0, t2, 0x44);
  out[1] = _mm512_shuffle_ps(t0, t2, 0xEE);
  if (count == 2) return;
  const __m512 t1 = _mm512_unpackhi_ps(z[0], z[1]), t3 = _mm512_unpackhi_ps(z[2], z[3]);
  out[2] = _mm512_shuffle_ps(t1, t3, 0x44);
  out[3] = _mm512_shuffle_ps(t1, t3, 0xEE);
}

// winograd::input_transform<M, 16> on zmm registers, the 16 tiles' patches read a row at a time: 128-bit loads
// of tiles q, q+4, q+8 and q+12 fill the four lanes of one register, and in-lane transposes turn four such into
// the patch columns across tiles. 0.4-0.5x the time of fetching every patch element by a gather. F(4,3)'s
// second block reads columns 6 and 7 past a patch: the padded input has kWinogradSlack floats after its end.
template <int M>
void input_transform_rows(const WinogradTask& t, float* v) {
  constexpr int N = M + 2;
  const int64_t* p = t.patch;
  const int64_t xi_stride = int64_t(t.in_c) * kMr;
  for (int c = 0; c < t.in_c; ++c) {
    const float* src = t.padded + c * t.plane;
    __m512 d[N][N];  // d[r][x]: patch element (r, x) of the 16 tiles
#pragma GCC unroll 6
    for (int r = 0; r < N; ++r)
#pragma GCC unroll 2
      for (int x0 = 0; x0 < N; x0 += 4) {
        const float* row = src + r * t.ld + x0;
        __m512 z[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
          __m512 block = _mm512_castps128_ps512(_mm_loadu_ps(row + p[q]));
          block = _mm512_insertf32x4(block, _mm_loadu_ps(row + p[q + 4]), 1);
          block = _mm512_insertf32x4(block, _mm_loadu_ps(row + p[q + 8]), 2);
          z[q] = _mm512_insertf32x4(block, _mm_loadu_ps(row + p[q + 12]), 3);
        }
        transpose_lanes(z, d[r] + x0, N - x0 < 4 ? N - x0 : 4);
      }
    float* dst = v + int64_t(c) * kMr;
    winograd::input_2d<M>([&](int r, int x) { return d[r][x]; },
                          [=](int xi, __m512 value) { _mm512_storeu_ps(dst + xi * xi_stride, value); });
  }
}

// Lane l (0..3) of v: channels 4l..4l+3 after the transposes below. The switch folds away in unrolled loops.
inline __m128 lane(__m512 v, int l) {
  switch (l) {
    case 0:
      return _mm512_castps512_ps128(v);
    case 1:
      return _mm512_extractf32x4_ps(v, 1);
    case 2:
      return _mm512_extractf32x4_ps(v, 2);
    default:
      return _mm512_extractf32x4_ps(v, 3);
  }
}

// winograd::output_transform<M> on zmm registers (16 output channels), stored through in-register transposes:
// one masked xmm store per channel and tile row, where the portable version stores 16*M*M scalars through a
// stack array.
template <int M>
void output_transform_zmm(const float* m, int64_t m_stride, const float* bias, Activation act, float* out,
                          int64_t out_plane, int out_w, int rows, int cols, int lanes) {
  const __m512 b = _mm512_loadu_ps(bias), zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.f);
  __m512 y[M][M];
  winograd::output_2d<M>([=](int xi) { return _mm512_loadu_ps(m + xi * m_stride); },
                         [&](int r, int x, __m512 v) {
                           y[r][x] = activate(_mm512_add_ps(b, v), act, zero, six);
                         });
  const __mmask8 keep = __mmask8((1u << cols) - 1);
  for (int r = 0; r < rows; ++r) {
    float* row = out + int64_t(r) * out_w;
    // per 128-bit lane l, c = channel 4l + ., x = column: t0 = c0x0 c0x1 c1x0 c1x1, t1 = c2x0 c2x1 c3x0 c3x1
    const __m512 t0 = _mm512_unpacklo_ps(y[r][0], y[r][1]), t1 = _mm512_unpackhi_ps(y[r][0], y[r][1]);
    if constexpr (M == 4) {
      // t2, t3: the same for columns 2, 3; u[i]: channel 4l + i, columns 0..3
      const __m512 t2 = _mm512_unpacklo_ps(y[r][2], y[r][3]), t3 = _mm512_unpackhi_ps(y[r][2], y[r][3]);
      const __m512 u[4] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xEE),
                           _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xEE)};
#pragma GCC unroll 16
      for (int j = 0; j < winograd::kLanes; ++j)
        if (j < lanes) _mm_mask_storeu_ps(row + j * out_plane, keep, lane(u[j & 3], j >> 2));
    } else {
      const __m512 t[2] = {t0, t1};
#pragma GCC unroll 16
      for (int j = 0; j < winograd::kLanes; ++j)
        if (j < lanes) {
          const __m128 v = lane(t[(j >> 1) & 1], j >> 2);  // channel j's columns in its low or high half
          _mm_mask_storeu_ps(row + j * out_plane, keep, j & 1 ? _mm_movehl_ps(v, v) : v);
        }
    }
  }
}

template <int M>
void run(const WinogradTask& task) {
  winograd::run_task<M, kMr, kPairRows>(task, point_gemm_panels, input_transform_rows<M>, output_transform_zmm<M>);
}

}  // namespace

void winograd_f23(const WinogradTask& task) { run<2>(task); }
void winograd_f43(const WinogradTask& task) { run<4>(task); }

}  // namespace facert::cpu::avx512
