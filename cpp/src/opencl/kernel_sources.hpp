// kernels/*.cl, embedded at build time: CMake runs kernels/embed_kernels.cmake into a generated .cpp in the
// build folder (nothing generated is committed), rebuilt whenever any .cl changes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace facert::opencl {

struct KernelSource {
  const char* file;  // "conv2d.cl"
  const char* text;
};

extern const KernelSource kKernelSources[];
extern const size_t kKernelSourceCount;

// All sources concatenated in file-name order: the one program the engine builds.
const std::string& program_source();
// FNV-1a 64 of program_source(), hex: part of every cache key.
const std::string& program_source_hash();

}  // namespace facert::opencl
