#include "opencl/kernel_sources.hpp"

#include <cstdio>

namespace facert::opencl {

const std::string& program_source() {
  static const std::string all = [] {
    std::string s;
    for (size_t i = 0; i < kKernelSourceCount; ++i) (s += "// ---- ") += std::string(kKernelSources[i].file) + "\n" + kKernelSources[i].text;
    return s;
  }();
  return all;
}

const std::string& program_source_hash() {
  static const std::string hash = [] {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : program_source()) h = (h ^ c) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf);
  }();
  return hash;
}

}  // namespace facert::opencl
