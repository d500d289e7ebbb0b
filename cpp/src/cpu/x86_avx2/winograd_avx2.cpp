// Winograd F(2x2, 3x3) on the AVX2 6x16 tile: 6 output tiles per task (the transforms vectorised by the
// compiler with this file's flags: across output channels, 16 wide, in the output transform).
#include "cpu/winograd_f23.hpp"

namespace facert::cpu::avx2 {

void winograd_f23(const WinogradTask& task) {
  static const float kZeroBias[6] = {};
  winograd::run_task<6>(
      task,
      [](int, int k, const float* a, const float* b, float* c) {
        kGemm6x16.fn(k, a, b, winograd::kLanes, c, winograd::kLanes, kZeroBias, false, false, Activation::None);
      },
      [](const WinogradTask& t, float* v) {
        winograd::input_transform<6>(t.padded, t.ld, t.plane, t.in_c, t.patch, v);
      });
}

}  // namespace facert::cpu::avx2
