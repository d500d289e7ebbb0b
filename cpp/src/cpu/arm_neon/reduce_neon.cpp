// NEON reductions for linear (dot) and global average pooling (sum), four accumulators.
#include <arm_neon.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::neon {

float dot(const float* a, const float* b, int n) {
  float32x4_t s0 = vdupq_n_f32(0.f), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float sum(const float* a, int n) {
  float32x4_t s0 = vdupq_n_f32(0.f), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = vaddq_f32(s0, vld1q_f32(a + i));
    s1 = vaddq_f32(s1, vld1q_f32(a + i + 4));
    s2 = vaddq_f32(s2, vld1q_f32(a + i + 8));
    s3 = vaddq_f32(s3, vld1q_f32(a + i + 12));
  }
  for (; i + 4 <= n; i += 4) s0 = vaddq_f32(s0, vld1q_f32(a + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; i < n; ++i) s += a[i];
  return s;
}

}  // namespace facert::cpu::neon
