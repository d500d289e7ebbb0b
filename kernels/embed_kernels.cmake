# Writes OUT: a C++ file defining facert::opencl::kKernelSources from KERNELS_DIR/*.cl, each as a raw
# string literal with `#include "storage.h"` replaced by kernels/storage.h (the shared storage preamble; the
# pyopencl tests inline it the same way, tests/cl_helpers.py). Run by the custom command in CMakeLists.txt at
# build time (which depends on every .cl and .h).
file(GLOB SOURCES "${KERNELS_DIR}/*.cl")
list(SORT SOURCES)
file(READ "${KERNELS_DIR}/storage.h" storage_header)
set(body "")
set(count 0)
foreach(path IN LISTS SOURCES)
  get_filename_component(name "${path}" NAME)
  file(READ "${path}" text)
  string(FIND "${text}" "#include \"storage.h\"" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${path} does not include storage.h")
  endif()
  string(REPLACE "#include \"storage.h\"\n" "${storage_header}" text "${text}")
  string(FIND "${text}" ")facert_cl\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${path} contains the raw-string delimiter )facert_cl\"")
  endif()
  string(APPEND body "    {\"${name}\", R\"facert_cl(${text})facert_cl\"},\n")
  math(EXPR count "${count} + 1")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from kernels/*.cl by kernels/embed_kernels.cmake; do not edit.\n"
  "#include \"opencl/kernel_sources.hpp\"\n\nnamespace facert::opencl {\n\n"
  "const KernelSource kKernelSources[] = {\n${body}};\n"
  "const size_t kKernelSourceCount = ${count};\n\n}  // namespace facert::opencl\n")
# only touch OUT when the content changed, so unrelated builds do not recompile it
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
