// The dispatch table: which kernels each ISA runs. Ref entries are plain loops, the baseline
// every optimised entry is tested against.
#include "cpu/kernel_table.hpp"

#include <stdexcept>
#include <string>

namespace facert::cpu {

namespace {

float dot_ref(const float* a, const float* b, int n) {
  double s = 0.0;  // double: the reference must not be the least accurate path
  for (int i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

float sum_ref(const float* a, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += a[i];
  return static_cast<float>(s);
}

void max_into_portable(float* acc, const float* row, int n) {
  for (int i = 0; i < n; ++i) acc[i] = max_nan(acc[i], row[i]);
}

const KernelTable kRefTable{Isa::Ref, nullptr, dot_ref, sum_ref, max_into_portable, nullptr, nullptr, nullptr,
                            nullptr};
#if defined(FACERT_HAVE_AVX2)
// A 12x8 AVX2 tile (less waste on 6x6 layers) measured 20-40% slower than 6x16 on every SqueezeNet
// layer: 12 broadcasts per 12 FMAs saturate the load ports. One tile per ISA.
const KernelTable kAvx2Table{Isa::Avx2, &avx2::kGemm6x16, avx2::dot, avx2::sum, avx2::max_into, avx2::max3_stride2,
                             nullptr, avx2::winograd_f23, avx2::winograd_f43, nullptr, nullptr, avx2::prelu, 6};
#endif
#if defined(FACERT_HAVE_AVX512)
// The reductions are memory-bound: the AVX2 ones serve (every AVX-512 CPU has AVX2).
const KernelTable kAvx512Table{Isa::Avx512, &avx512::kGemm8x32, avx2::dot, avx2::sum, avx2::max_into,
                               avx2::max3_stride2, avx512::max3x3_stride2_rows, avx512::winograd_f23,
                               avx512::winograd_f43, avx512::max2x2_stride2_rows, &avx512::kGemm4x64,
                               avx512::prelu, 16};
#endif
#if defined(FACERT_HAVE_NEON)
const KernelTable kNeonTable{Isa::Neon, &neon::kGemm8x8, neon::dot, neon::sum, max_into_portable, nullptr, nullptr,
                             nullptr, nullptr};
#endif

}  // namespace

const KernelTable& kernel_table(Isa isa) {
  if (!isa_available(isa))
    throw std::invalid_argument(std::string("ISA '") + isa_name(isa) + "' is not available on this CPU/build");
  switch (isa) {
#if defined(FACERT_HAVE_AVX2)
    case Isa::Avx2:
      return kAvx2Table;
#endif
#if defined(FACERT_HAVE_AVX512)
    case Isa::Avx512:
      return kAvx512Table;
#endif
#if defined(FACERT_HAVE_NEON)
    case Isa::Neon:
      return kNeonTable;
#endif
    default:
      return kRefTable;
  }
}

}  // namespace facert::cpu
