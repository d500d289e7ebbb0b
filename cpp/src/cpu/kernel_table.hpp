// Internal: the per-ISA kernels the portable drivers (gemm.cpp, linear.cpp, ...) call through.
// One table per ISA, chosen once per layer from the Isa the caller asked for.
#pragma once
#include <cstdint>

#include "cpu/kernels.hpp"

namespace facert::cpu {

// GEMM microkernel on one full MR x NR tile of C:
//   C[i][j] = (accumulate ? C[i][j] : bias[i]) + sum_p a[p*MR + i] * b[p*NR + j],  p < k
// then clamped by `act` when apply_act. a: packed A panel (k x MR, row index fastest);
// b: packed B panel (k x NR, column index fastest); c: tile origin, row stride ldc floats.
// Partial tiles are handled by the driver through a scratch tile, never here.
using GemmMicroKernel = void (*)(int k, const float* a, const float* b, float* c, int64_t ldc,
                                 const float* bias, bool accumulate, bool apply_act, Activation act);

struct GemmKernel {
  int mr;
  int nr;
  GemmMicroKernel fn;
  const char* name;  // the tile, "6x16"
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
inline float apply_activation(float v, Activation act) {
  if (act == Activation::None) return v;
  v = v < 0.f ? 0.f : v;
  return act == Activation::Relu6 && v > 6.f ? 6.f : v;
}

inline float max_nan(float a, float b) { return (a > b || a != a) ? a : b; }

namespace avx2 {
extern const GemmKernel kGemm6x16;
float dot(const float* a, const float* b, int n);
float sum(const float* a, int n);
void max_into(float* acc, const float* row, int n);
int max3_stride2(const float* row, int avail, int count, float* out);
}  // namespace avx2

namespace neon {
extern const GemmKernel kGemm8x8;
float dot(const float* a, const float* b, int n);
float sum(const float* a, int n);
}  // namespace neon

}  // namespace facert::cpu
