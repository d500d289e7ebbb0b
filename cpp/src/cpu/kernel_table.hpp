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
};

struct KernelTable {
  Isa isa;
  const GemmKernel* gemm;                       // nullptr: no GEMM path (Isa::Ref uses direct loops)
  float (*dot)(const float* a, const float* b, int n);
  float (*sum)(const float* a, int n);
};

// The table for `isa`; throws std::invalid_argument when that ISA is not available here.
const KernelTable& kernel_table(Isa isa);

inline float apply_activation(float v, Activation act) {
  if (act == Activation::None) return v;
  v = v > 0.f ? v : 0.f;
  return act == Activation::Relu6 && v > 6.f ? 6.f : v;
}

namespace avx2 {
extern const GemmKernel kGemm6x16;
float dot(const float* a, const float* b, int n);
float sum(const float* a, int n);
}  // namespace avx2

namespace neon {
extern const GemmKernel kGemm8x8;
float dot(const float* a, const float* b, int n);
float sum(const float* a, int n);
}  // namespace neon

}  // namespace facert::cpu
