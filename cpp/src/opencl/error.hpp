// OpenCL failures as one C++ exception type; the Python bindings turn every kind into facert.DeviceError.
#pragma once
#include <stdexcept>
#include <string>

#include "opencl/cl_api.hpp"

namespace facert::opencl {

enum class ErrorKind {
  Unavailable,  // no library / platform / device
  OutOfMemory,  // CL_OUT_OF_RESOURCES, CL_OUT_OF_HOST_MEMORY, CL_MEM_OBJECT_ALLOCATION_FAILURE
  Build,        // the kernels did not compile; the message carries the build log
  Unsupported,  // a graph the OpenCL backend cannot run (e.g. grouped conv)
  Runtime,      // any other CL error
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

inline bool is_out_of_memory(cl_int code) {
  return code == CL_OUT_OF_RESOURCES || code == CL_OUT_OF_HOST_MEMORY || code == CL_MEM_OBJECT_ALLOCATION_FAILURE;
}

// Throws Error naming the call that failed; out-of-memory codes get their own kind and wording.
inline void check(cl_int code, const char* what) {
  if (code == CL_SUCCESS) return;
  if (is_out_of_memory(code))
    throw Error(ErrorKind::OutOfMemory, std::string("OpenCL device out of memory in ") + what + ": " + error_name(code));
  throw Error(ErrorKind::Runtime, std::string(what) + " failed: " + error_name(code));
}

}  // namespace facert::opencl
