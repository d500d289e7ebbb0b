// ISA names and run-time detection. Which optimised kernels exist is decided at build time
// (FACERT_HAVE_AVX2 / FACERT_HAVE_AVX512 / FACERT_HAVE_NEON, set by CMake per architecture); whether
// they may run, here: the CPU must have the instructions (cpuid) AND the OS must save the registers
// they use across context switches (XCR0, read with xgetbv), or the first zmm instruction faults.
#include <string>

#include "cpu/kernels.hpp"

#if (defined(FACERT_HAVE_AVX2) || defined(FACERT_HAVE_AVX512)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FACERT_X86_CPUID 1
#endif

namespace facert::cpu {

namespace {

#if defined(FACERT_X86_CPUID)
struct X86Features {
  bool avx2 = false;    // AVX2 + FMA, ymm state enabled by the OS
  bool avx512 = false;  // AVX-512 F/BW/DQ/VL, opmask + zmm state enabled by the OS
};

X86Features detect_x86() {
  X86Features f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28);
  if (!osxsave || !avx) return f;
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));  // no -mxsave needed
  const bool ymm_state = (xcr0_lo & 0x6) == 0x6;     // XMM | YMM
  const bool zmm_state = (xcr0_lo & 0xe6) == 0xe6;   // XMM | YMM | opmask | ZMM_Hi256 | Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool avx2 = ebx & (1u << 5);
  const bool avx512 = (ebx & (1u << 16)) && (ebx & (1u << 17)) && (ebx & (1u << 30)) && (ebx & (1u << 31));
  f.avx2 = avx2 && fma && ymm_state;
  f.avx512 = f.avx2 && avx512 && zmm_state;
  return f;
}

const X86Features& x86() {
  static const X86Features features = detect_x86();
  return features;
}
#endif

}  // namespace

bool isa_available(Isa isa) {
  switch (isa) {
    case Isa::Ref:
      return true;
    case Isa::Avx2:
#if defined(FACERT_HAVE_AVX2) && defined(FACERT_X86_CPUID)
      return x86().avx2;
#else
      return false;
#endif
    case Isa::Avx512:
#if defined(FACERT_HAVE_AVX512) && defined(FACERT_X86_CPUID)
      return x86().avx512;
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
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Neon})
    if (isa_available(isa)) return isa;
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
    case Isa::Avx512:
      return "avx512";
  }
  return "unknown";
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "auto") {
    *out = best_isa();
    return true;
  }
  for (Isa isa : kAllIsas) {
    if (name == isa_name(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

}  // namespace facert::cpu
