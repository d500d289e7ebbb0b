// Winograd F(2x2, 3x3) on the AVX-512 16x16 tile: 16 output tiles per task, the transforms vectorised
// across them (input) and across 16 output channels (output) by the compiler, with this file's flags.
#include "cpu/winograd_f23.hpp"

namespace facert::cpu::avx512 {

void winograd_f23(const WinogradTask& task) { winograd::run_task<16>(task, kGemm16x16); }

}  // namespace facert::cpu::avx512
