// Internal: the per-ISA kernels the portable drivers (gemm.cpp, linear.cpp, ...) call through.
// One table per ISA, chosen once per layer from the Isa the caller asked for.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cpu/kernels.hpp"

namespace facert::cpu {

// GEMM microkernel on one full MR x NR tile of C:
//   C[i][j] = (accumulate ? C[i][j] : bias[i]) + sum_p a[p*MR + i] * B_p[j],  p < k
// then clamped by `act` when apply_act. a: packed A panel (k x MR, row index fastest);
// B_p = b + brow[p] where brow is given, else b + p*ldb: NR columns of B, read in place where a conv's B
// rows are contiguous windows of its input (a 1x1 conv's planes: stride ldb; a shifted conv's phase planes:
// a row offset each), from a packed panel (ldb = NR) otherwise; c: tile origin, row stride ldc floats.
// Partial tiles are handled by the driver through a scratch tile, never here.
using GemmMicroKernel = void (*)(int k, const float* a, const float* b, int64_t ldb, const int64_t* brow, float* c, int64_t ldc,
                                 const float* bias, bool accumulate, bool apply_act, Activation act);

// GEMM with one column of B (a conv whose output is one pixel: a detector's dense layers), on one packed A
// panel: y[i] = act(bias[i] + sum_p a[p*MR + i] * x[p]) for the MR rows, one vector FMA per p instead of a
// whole NR-wide tile with one useful column.
using GemvMicroKernel = void (*)(int k, const float* a, const float* x, const float* bias, float* y, Activation act);

struct GemmKernel {
  int mr;
  int nr;
  GemmMicroKernel fn;
  const char* name;  // the tile, "6x16"
  GemvMicroKernel gemv = nullptr;  // nullptr: one-column GEMMs take the tile path
  // The same MR rows on NR/2 columns, for a last panel with at most NR/2 valid columns (a 6x6 output's 36
  // columns: 32 + 16, not 32 + 32); nullptr: the full tile.
  GemmMicroKernel half = nullptr;
  // columns[n - 1]: the MR rows on exactly n columns, n <= max_columns, for a last panel that narrow (the
  // 6x6 output's last 4); writes and reads only those n columns of C.
  const GemmMicroKernel* columns = nullptr;
  int max_columns = 0;
};

constexpr int kWinogradSlack = 4;

// One Winograd F(mxm, 3x3) task, m = 2 or 4 (cpu/winograd.hpp): up to MR output tiles (MR = the table's
// winograd_tiles) x output-channel panels [panel_begin, panel_end) of 16 channels; n = m + 2.
struct WinogradTask {
  const float* padded;   // zero-padded input, in_c planes of `plane` floats, row stride ld, then
                         // kWinogradSlack floats a transform may read past the last plane (never used)
  int64_t ld, plane;
  int in_c;
  const int64_t* patch;  // MR offsets of the tiles' n x n patches in a plane (unused rows: any valid patch)
  const int* tile_y;     // output row / column of each tile's top-left pixel
  const int* tile_x;
  int tiles;             // valid tiles, <= MR
  const float* u;        // transformed weights [point][panel][in_c][16], n*n points
  int panels, panel_begin, panel_end;
  int out_c;
  const float* bias;     // panels * 16, zero-padded
  Activation act;
  float* out;            // (out_c, out_h, out_w), channel stride out_plane
  int64_t out_plane;
  int out_h, out_w;
  float* scratch;        // n*n * (in_c * MR + MR * 16) floats
};

// PReLU as max(x, 0) + slope * min(x, 0), NaN kept: the compiler vectorises this form (the select
// x >= 0 ? x : slope * x it left as one data-dependent branch per element, 1.5x slower on real activations
// than on the repeated input a profile times). Internal linkage, as every helper here that ISA files compile
// with their own flags: one inline copy is linked for all, and it must not be an AVX-512 one.
static inline float prelu_scalar(float x, float slope) { return std::max(x, 0.0f) + slope * std::min(x, 0.0f); }
static inline void prelu_portable(const float* x, float* y, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) y[i] = prelu_scalar(x[i], slope);
}

// Input rows [*y0, *y1) of output row oy's k-row pooling window, clipped to the plane; PyTorch's rules leave
// at least one inside.
inline void pool_window_rows(int oy, int k, int sh, int ph, int in_h, int* y0, int* y1) {
  *y0 = oy * sh - ph > 0 ? oy * sh - ph : 0;
  *y1 = oy * sh - ph + k < in_h ? oy * sh - ph + k : in_h;
}

// Rows [oy_begin, oy_end) of one channel plane's max pool output (KernelTable::max3x3_stride2_rows).
struct PoolRows {
  const float* in;  // the input plane, in_h x in_w
  int in_h, in_w, sh, ph, pw;
  float* out;  // the output plane, out_w wide
  int out_w, oy_begin, oy_end;
};

struct KernelTable {
  Isa isa;
  const GemmKernel* gemm;  // nullptr: no GEMM path (Isa::Ref uses direct loops)
  float (*dot)(const float* a, const float* b, int n);
  float (*sum)(const float* a, int n);
  // maxpool2d: acc[i] = max(acc[i], row[i]) for i < n
  void (*max_into)(float* acc, const float* row, int n);
  // maxpool2d 3-wide stride-2 windows: out[i] = max(row[2i], row[2i+1], row[2i+2]) for i < the
  // returned count (<= count), reading only row[0 .. avail) (avail may include slack past the
  // valid data: such lanes are never stored); nullptr: the portable loop does all.
  int (*max3_stride2)(const float* row, int avail, int count, float* out);
  // maxpool2d 3x3 windows, stride 2 along x, edges included: rows [oy_begin, oy_end) of one plane's output,
  // out[oy][ox] = max over input rows [oy*sh - ph, +3) and columns [2ox - pw, +3), both clipped to the plane,
  // NaN kept; nullptr: the separable steps above. One call per plane's run of rows, so the constants and the
  // loop stay in the kernel (a call per output row cost more than the row's maxima at 6-13 px).
  void (*max3x3_stride2_rows)(const PoolRows& p);
  // Winograd F(2x2, 3x3) and F(4x4, 3x3) on the table's GEMM tile; nullptr: 3x3 convs use the plain GEMM
  // methods.
  void (*winograd_f23)(const WinogradTask& task);
  void (*winograd_f43)(const WinogradTask& task);
  // maxpool2d 2x2 windows, stride 2 along x, as max3x3_stride2_rows; nullptr: the separable steps (MTCNN's
  // P-Net pool).
  void (*max2x2_stride2_rows)(const PoolRows& p) = nullptr;
  // A GEMM tile for single-group convs with at most its MR output channels (a detector's 2- and 4-channel
  // heads), which the main tile would compute mostly in empty rows; nullptr: the main tile.
  const GemmKernel* gemm_narrow = nullptr;
  // PReLU of one channel plane, y[i] = prelu_scalar(x[i], slope) for i < n (y may be x).
  void (*prelu)(const float* x, float* y, int64_t n, float slope) = prelu_portable;
  // Output tiles per Winograd task: the rows of its point GEMMs (winograd_f23/f43 set).
  int winograd_tiles = 0;
};

// The table for `isa`; throws std::invalid_argument when that ISA is not available here.
const KernelTable& kernel_table(Isa isa);

// Below this much work (scalar operations; a vectorised MAC counts 1/8), waking the pool costs
// more than it saves: a few microseconds.
constexpr int64_t kMinParallelWork = 1 << 15;

// Runs fn(0, n) on the calling thread when the job is smaller than kMinParallelWork, else
// pool.parallel_for.
template <class Fn>
void parallel_for_work(ThreadPool& pool, int64_t n, int64_t work, const Fn& fn) {
  if (work < kMinParallelWork || pool.size() == 1)
    fn(int64_t(0), n);
  else
    pool.parallel_for(n, fn);
}

// NaN in, NaN out, as PyTorch's relu, hardtanh and max pooling: every compare is written so NaN fails
// it and keeps v (SIMD kernels: x86 MAXPS/MINPS return their second operand when either is NaN).
static inline float apply_activation(float v, Activation act) {
  if (act == Activation::None) return v;
  v = v < 0.f ? 0.f : v;
  return act == Activation::Relu6 && v > 6.f ? 6.f : v;
}

static inline float max_nan(float a, float b) { return (a > b || a != a) ? a : b; }

namespace avx2 {
extern const GemmKernel kGemm6x16;
float dot(const float* a, const float* b, int n);
float sum(const float* a, int n);
void max_into(float* acc, const float* row, int n);
int max3_stride2(const float* row, int avail, int count, float* out);
void winograd_f23(const WinogradTask& task);
void winograd_f43(const WinogradTask& task);
void prelu(const float* x, float* y, int64_t n, float slope);
}  // namespace avx2

namespace avx512 {
extern const GemmKernel kGemm8x32;
extern const GemmKernel kGemm4x64;
void winograd_f23(const WinogradTask& task);
void winograd_f43(const WinogradTask& task);
void max3x3_stride2_rows(const PoolRows& p);
void max2x2_stride2_rows(const PoolRows& p);
void prelu(const float* x, float* y, int64_t n, float slope);
}  // namespace avx512

namespace neon {
extern const GemmKernel kGemm8x8;
float dot(const float* a, const float* b, int n);
float sum(const float* a, int n);
}  // namespace neon

}  // namespace facert::cpu
