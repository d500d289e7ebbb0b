// ISA names and run-time detection. Which optimised kernels exist is decided at build time
// (FACERT_HAVE_AVX2 / FACERT_HAVE_NEON, set by CMake per architecture); whether they may run, here.
#include <string>

#include "cpu/kernels.hpp"

namespace facert::cpu {

bool isa_available(Isa isa) {
  switch (isa) {
    case Isa::Ref:
      return true;
    case Isa::Avx2:
#if defined(FACERT_HAVE_AVX2) && (defined(__GNUC__) || defined(__clang__))
      // GCC's check includes the OS saving the ymm state (xgetbv).
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
      return false;
#endif
    case Isa::Neon:
#if defined(FACERT_HAVE_NEON)
      return true;  // Advanced SIMD is mandatory on AArch64
#else
      return false;
#endif
  }
  return false;
}

Isa best_isa() {
  if (isa_available(Isa::Avx2)) return Isa::Avx2;
  if (isa_available(Isa::Neon)) return Isa::Neon;
  return Isa::Ref;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Ref:
      return "ref";
    case Isa::Avx2:
      return "avx2";
    case Isa::Neon:
      return "neon";
  }
  return "unknown";
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "auto") {
    *out = best_isa();
    return true;
  }
  for (Isa isa : {Isa::Ref, Isa::Avx2, Isa::Neon}) {
    if (name == isa_name(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

}  // namespace facert::cpu
