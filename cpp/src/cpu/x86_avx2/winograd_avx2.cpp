// Winograd F(2x2, 3x3) and F(4x4, 3x3) on the AVX2 6x16 tile: 6 output tiles per task (the transforms
// vectorised by the compiler with this file's flags: across the 6 tiles in the input transform, across 16
// output channels in the output one).
#include "cpu/winograd.hpp"

namespace facert::cpu::avx2 {

namespace {

template <int M>
void run(const WinogradTask& task) {
  static const float kZeroBias[6] = {};
  winograd::run_task<M, 6, 0>(
      task,
      [](int, int k, const float* a, const float* b, float* c, int) {  // one panel at a time
        kGemm6x16.fn(k, a, b, winograd::kLanes, nullptr, c, winograd::kLanes, kZeroBias, false, false, Activation::None);
      },
      [](const WinogradTask& t, float* v) {
        winograd::input_transform<M, 6>(t.padded, t.ld, t.plane, t.in_c, t.patch, v);
      },
      winograd::output_transform<M>);
}

}  // namespace

void winograd_f23(const WinogradTask& task) { run<2>(task); }
void winograd_f43(const WinogradTask& task) { run<4>(task); }

}  // namespace facert::cpu::avx2
