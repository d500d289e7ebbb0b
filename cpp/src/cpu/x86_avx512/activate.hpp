// Fused ReLU / ReLU6 on AVX-512 registers, for the AVX-512 translation units only (compiled with their flags).
// NaN rule: x86 max/min return their SECOND operand when either is NaN, so the value goes second and
// a NaN output stays NaN (as PyTorch's relu does).
#pragma once
#include <immintrin.h>

#include "cpu/kernel_table.hpp"

namespace facert::cpu::avx512 {

inline __m512 activate(__m512 v, Activation act, __m512 zero, __m512 six) {
  if (act == Activation::None) return v;
  v = _mm512_max_ps(zero, v);
  return act == Activation::Relu6 ? _mm512_min_ps(six, v) : v;
}
inline __m256 activate(__m256 v, Activation act) {
  if (act == Activation::None) return v;
  v = _mm256_max_ps(_mm256_setzero_ps(), v);
  return act == Activation::Relu6 ? _mm256_min_ps(_mm256_set1_ps(6.f), v) : v;
}

}  // namespace facert::cpu::avx512
