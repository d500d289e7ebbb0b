// NEON GEMM microkernel, 8 x 8 tile: 16 q-register accumulators, 2+2 vectors of A and B per k,
// lane-indexed FMAs (vfmaq_laneq_f32) so A needs no broadcast loads. AArch64 only.
#include <arm_neon.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::neon {

namespace {

constexpr int kMr = 8;
constexpr int kNr = 8;

inline float32x4_t activate(float32x4_t v, Activation act) {
  if (act == Activation::None) return v;
  v = vmaxq_f32(v, vdupq_n_f32(0.f));
  return act == Activation::Relu6 ? vminq_f32(v, vdupq_n_f32(6.f)) : v;
}

void gemm_8x8(int k, const float* a, const float* b, int64_t ldb, const int64_t* brow, float* c, int64_t ldc, const float* bias, bool accumulate,
              bool apply_act, Activation act) {
  float32x4_t acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = vdupq_n_f32(0.f);
  for (int p = 0; p < k; ++p, a += kMr) {
    const float* row = brow ? b + brow[p] : b + p * ldb;
    const float32x4_t b0 = vld1q_f32(row), b1 = vld1q_f32(row + 4);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    acc[0][0] = vfmaq_laneq_f32(acc[0][0], b0, a0, 0);
    acc[0][1] = vfmaq_laneq_f32(acc[0][1], b1, a0, 0);
    acc[1][0] = vfmaq_laneq_f32(acc[1][0], b0, a0, 1);
    acc[1][1] = vfmaq_laneq_f32(acc[1][1], b1, a0, 1);
    acc[2][0] = vfmaq_laneq_f32(acc[2][0], b0, a0, 2);
    acc[2][1] = vfmaq_laneq_f32(acc[2][1], b1, a0, 2);
    acc[3][0] = vfmaq_laneq_f32(acc[3][0], b0, a0, 3);
    acc[3][1] = vfmaq_laneq_f32(acc[3][1], b1, a0, 3);
    acc[4][0] = vfmaq_laneq_f32(acc[4][0], b0, a1, 0);
    acc[4][1] = vfmaq_laneq_f32(acc[4][1], b1, a1, 0);
    acc[5][0] = vfmaq_laneq_f32(acc[5][0], b0, a1, 1);
    acc[5][1] = vfmaq_laneq_f32(acc[5][1], b1, a1, 1);
    acc[6][0] = vfmaq_laneq_f32(acc[6][0], b0, a1, 2);
    acc[6][1] = vfmaq_laneq_f32(acc[6][1], b1, a1, 2);
    acc[7][0] = vfmaq_laneq_f32(acc[7][0], b0, a1, 3);
    acc[7][1] = vfmaq_laneq_f32(acc[7][1], b1, a1, 3);
  }
  for (int i = 0; i < kMr; ++i) {
    float* row = c + i * ldc;
    float32x4_t base0, base1;
    if (accumulate) {
      base0 = vld1q_f32(row);
      base1 = vld1q_f32(row + 4);
    } else {
      base0 = base1 = vdupq_n_f32(bias[i]);
    }
    float32x4_t v0 = vaddq_f32(base0, acc[i][0]), v1 = vaddq_f32(base1, acc[i][1]);
    if (apply_act) {
      v0 = activate(v0, act);
      v1 = activate(v1, act);
    }
    vst1q_f32(row, v0);
    vst1q_f32(row + 4, v1);
  }
}

}  // namespace

const GemmKernel kGemm8x8{kMr, kNr, gemm_8x8, "8x8"};

}  // namespace facert::cpu::neon
