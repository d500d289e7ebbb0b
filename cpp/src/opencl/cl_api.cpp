#include "opencl/cl_api.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

namespace facert::opencl {
namespace {

// Desktop loaders first, then where Android vendors put theirs (Adreno: /vendor/lib64/libOpenCL.so;
// Mali ships it inside libGLES_mali.so; PowerVR: libPVROCL.so).
std::vector<std::string> candidate_paths() {
  if (const char* forced = std::getenv("FACERT_OPENCL_LIBRARY"); forced && *forced) return {forced};
  return {
      "libOpenCL.so.1",
      "libOpenCL.so",
#if defined(__APPLE__)
      "/System/Library/Frameworks/OpenCL.framework/OpenCL",
#endif
      "/vendor/lib64/libOpenCL.so",
      "/system/vendor/lib64/libOpenCL.so",
      "/system/lib64/libOpenCL.so",
      "/vendor/lib64/egl/libGLES_mali.so",
      "/system/vendor/lib64/egl/libGLES_mali.so",
      "/vendor/lib64/libPVROCL.so",
      "/vendor/lib/libOpenCL.so",
      "/system/vendor/lib/libOpenCL.so",
      "/system/lib/libOpenCL.so",
  };
}

template <typename Fn>
bool resolve(void* lib, const char* name, Fn*& out, std::string* missing) {
  out = reinterpret_cast<Fn*>(dlsym(lib, name));
  if (!out) *missing = name;
  return out != nullptr;
}

bool fill(void* lib, Api& a, std::string* missing) {
  return resolve(lib, "clGetPlatformIDs", a.GetPlatformIDs, missing) &&
         resolve(lib, "clGetPlatformInfo", a.GetPlatformInfo, missing) &&
         resolve(lib, "clGetDeviceIDs", a.GetDeviceIDs, missing) &&
         resolve(lib, "clGetDeviceInfo", a.GetDeviceInfo, missing) &&
         resolve(lib, "clCreateContext", a.CreateContext, missing) &&
         resolve(lib, "clReleaseContext", a.ReleaseContext, missing) &&
         resolve(lib, "clCreateCommandQueue", a.CreateCommandQueue, missing) &&
         resolve(lib, "clReleaseCommandQueue", a.ReleaseCommandQueue, missing) &&
         resolve(lib, "clCreateBuffer", a.CreateBuffer, missing) &&
         resolve(lib, "clReleaseMemObject", a.ReleaseMemObject, missing) &&
         resolve(lib, "clCreateProgramWithSource", a.CreateProgramWithSource, missing) &&
         resolve(lib, "clCreateProgramWithBinary", a.CreateProgramWithBinary, missing) &&
         resolve(lib, "clBuildProgram", a.BuildProgram, missing) &&
         resolve(lib, "clGetProgramInfo", a.GetProgramInfo, missing) &&
         resolve(lib, "clGetProgramBuildInfo", a.GetProgramBuildInfo, missing) &&
         resolve(lib, "clReleaseProgram", a.ReleaseProgram, missing) &&
         resolve(lib, "clCreateKernel", a.CreateKernel, missing) &&
         resolve(lib, "clReleaseKernel", a.ReleaseKernel, missing) &&
         resolve(lib, "clSetKernelArg", a.SetKernelArg, missing) &&
         resolve(lib, "clGetKernelWorkGroupInfo", a.GetKernelWorkGroupInfo, missing) &&
         resolve(lib, "clEnqueueNDRangeKernel", a.EnqueueNDRangeKernel, missing) &&
         resolve(lib, "clEnqueueWriteBuffer", a.EnqueueWriteBuffer, missing) &&
         resolve(lib, "clEnqueueReadBuffer", a.EnqueueReadBuffer, missing) &&
         resolve(lib, "clFinish", a.Finish, missing) &&
         resolve(lib, "clCreateSubBuffer", a.CreateSubBuffer, missing) &&
         resolve(lib, "clFlush", a.Flush, missing) &&
         resolve(lib, "clWaitForEvents", a.WaitForEvents, missing) &&
         resolve(lib, "clReleaseEvent", a.ReleaseEvent, missing);
}

ApiLoad do_load() {
  static Api table;
  ApiLoad result;
  std::string tried;
  for (const std::string& path : candidate_paths()) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* err = dlerror();
      tried += "\n  " + path + ": " + (err ? err : "not found");
      continue;
    }
    std::string missing;
    if (!fill(lib, table, &missing)) {
      tried += "\n  " + path + ": lacks " + missing;
      dlclose(lib);
      continue;
    }
    result.api = &table;
    result.library = path;
    return result;
  }
  result.reason = "no OpenCL library could be loaded; tried:" + tried;
  return result;
}

}  // namespace

const ApiLoad& load_api() {
  static const ApiLoad loaded = do_load();  // C++11 guarantees one thread-safe initialisation
  return loaded;
}

std::string error_name(cl_int code) {
  const char* name = "CL error";
  switch (code) {
    case CL_DEVICE_NOT_FOUND: name = "CL_DEVICE_NOT_FOUND"; break;
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: name = "CL_MEM_OBJECT_ALLOCATION_FAILURE"; break;
    case CL_OUT_OF_RESOURCES: name = "CL_OUT_OF_RESOURCES"; break;
    case CL_OUT_OF_HOST_MEMORY: name = "CL_OUT_OF_HOST_MEMORY"; break;
    case CL_BUILD_PROGRAM_FAILURE: name = "CL_BUILD_PROGRAM_FAILURE"; break;
    case CL_INVALID_BINARY: name = "CL_INVALID_BINARY"; break;
    case CL_INVALID_WORK_GROUP_SIZE: name = "CL_INVALID_WORK_GROUP_SIZE"; break;
    case CL_PLATFORM_NOT_FOUND_KHR: name = "CL_PLATFORM_NOT_FOUND_KHR"; break;
    case -30: name = "CL_INVALID_VALUE"; break;
    case -34: name = "CL_INVALID_CONTEXT"; break;
    case -38: name = "CL_INVALID_MEM_OBJECT"; break;
    case -48: name = "CL_INVALID_KERNEL"; break;
    case -51: name = "CL_INVALID_ARG_SIZE"; break;
    case -52: name = "CL_INVALID_KERNEL_ARGS"; break;
    case -61: name = "CL_INVALID_BUFFER_SIZE"; break;
    case -63: name = "CL_INVALID_GLOBAL_WORK_SIZE"; break;
    default: break;
  }
  return std::string(name) + " (" + std::to_string(code) + ")";
}

}  // namespace facert::opencl
