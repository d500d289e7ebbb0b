// Internal: the reference conv2d (plain loops over the weights, rows vectorisable by the
// compiler). Isa::Ref runs it; optimised paths use it for what GEMM does badly (depthwise).
#pragma once
#include "cpu/kernels.hpp"

namespace facert::cpu {

// Output channels [oc_begin, oc_end) of one image. weight (out_c, in_c/groups, kh, kw).
void conv2d_direct(const Conv2dShape& s, const float* weight, const float* bias, Activation act,
                   const float* in, float* out, int oc_begin, int oc_end);

}  // namespace facert::cpu
