// Winograd F(2x2, 3x3) on the AVX2 6x16 tile: 6 output tiles per task (the transforms vectorised by the
// compiler with this file's flags: across output channels, 16 wide, in the output transform).
#include "cpu/winograd_f23.hpp"

namespace facert::cpu::avx2 {

void winograd_f23(const WinogradTask& task) { winograd::run_task<6>(task, kGemm6x16); }

}  // namespace facert::cpu::avx2
