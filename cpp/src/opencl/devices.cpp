#include "opencl/devices.hpp"

#include <exception>
#include <mutex>

#include "opencl/error.hpp"

namespace facert::opencl {
namespace {

std::string platform_string(const Api& api, cl_platform_id p, cl_platform_info what) {
  size_t size = 0;
  if (api.GetPlatformInfo(p, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string s(size, '\0');
  if (api.GetPlatformInfo(p, what, size, s.data(), nullptr) != CL_SUCCESS) return {};
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string device_string(const Api& api, cl_device_id d, cl_device_info what) {
  size_t size = 0;
  if (api.GetDeviceInfo(d, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string s(size, '\0');
  if (api.GetDeviceInfo(d, what, size, s.data(), nullptr) != CL_SUCCESS) return {};
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

template <typename T>
T device_value(const Api& api, cl_device_id d, cl_device_info what) {
  T v{};
  if (api.GetDeviceInfo(d, what, sizeof(T), &v, nullptr) != CL_SUCCESS) return T{};
  return v;
}

std::string type_name(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "gpu";
  if (t & CL_DEVICE_TYPE_CPU) return "cpu";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
  return "other";
}

bool has_extension(const std::string& list, const std::string& ext) {
  size_t pos = 0;
  while ((pos = list.find(ext, pos)) != std::string::npos) {
    const size_t end = pos + ext.size();
    if ((pos == 0 || list[pos - 1] == ' ') && (end == list.size() || list[end] == ' ')) return true;
    pos = end;
  }
  return false;
}

DeviceInfo describe(const Api& api, cl_platform_id p, cl_device_id d) {
  DeviceInfo info;
  info.platform = p;
  info.id = d;
  info.platform_name = platform_string(api, p, CL_PLATFORM_NAME);
  info.platform_vendor = platform_string(api, p, CL_PLATFORM_VENDOR);
  info.platform_version = platform_string(api, p, CL_PLATFORM_VERSION);
  info.name = device_string(api, d, CL_DEVICE_NAME);
  info.vendor = device_string(api, d, CL_DEVICE_VENDOR);
  info.driver_version = device_string(api, d, CL_DRIVER_VERSION);
  info.version = device_string(api, d, CL_DEVICE_VERSION);
  info.opencl_c_version = device_string(api, d, CL_DEVICE_OPENCL_C_VERSION);
  info.extensions = device_string(api, d, CL_DEVICE_EXTENSIONS);
  info.type = type_name(device_value<cl_device_type>(api, d, CL_DEVICE_TYPE));
  info.compute_units = device_value<cl_uint>(api, d, CL_DEVICE_MAX_COMPUTE_UNITS);
  info.max_clock_mhz = device_value<cl_uint>(api, d, CL_DEVICE_MAX_CLOCK_FREQUENCY);
  info.max_work_group_size = device_value<size_t>(api, d, CL_DEVICE_MAX_WORK_GROUP_SIZE);
  api.GetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof(info.max_work_item_sizes), info.max_work_item_sizes,
                    nullptr);
  info.image_support = device_value<cl_bool>(api, d, CL_DEVICE_IMAGE_SUPPORT) != 0;
  info.fp16 = has_extension(info.extensions, "cl_khr_fp16");
  info.global_mem_bytes = device_value<cl_ulong>(api, d, CL_DEVICE_GLOBAL_MEM_SIZE);
  info.local_mem_bytes = device_value<cl_ulong>(api, d, CL_DEVICE_LOCAL_MEM_SIZE);
  info.max_alloc_bytes = device_value<cl_ulong>(api, d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
  return info;
}

DeviceList enumerate_unchecked() {
  DeviceList list;
  const ApiLoad& load = load_api();
  if (!load.api) {
    list.reason = load.reason;
    return list;
  }
  list.library = load.library;
  const Api& api = *load.api;
  cl_uint n_platforms = 0;
  const cl_int rc = api.GetPlatformIDs(0, nullptr, &n_platforms);
  if (rc != CL_SUCCESS || n_platforms == 0) {
    list.reason = "libOpenCL loaded from " + load.library + " but it reports no OpenCL platform" +
                  (rc != CL_SUCCESS ? " (" + error_name(rc) + ")" : std::string());
    return list;
  }
  std::vector<cl_platform_id> platforms(n_platforms);
  api.GetPlatformIDs(n_platforms, platforms.data(), nullptr);
  for (cl_uint pi = 0; pi < n_platforms; ++pi) {
    cl_uint n_devices = 0;
    if (api.GetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, 0, nullptr, &n_devices) != CL_SUCCESS) continue;
    std::vector<cl_device_id> devices(n_devices);
    api.GetDeviceIDs(platforms[pi], CL_DEVICE_TYPE_ALL, n_devices, devices.data(), nullptr);
    for (cl_uint di = 0; di < n_devices; ++di) {
      DeviceInfo info = describe(api, platforms[pi], devices[di]);
      info.platform_index = static_cast<int>(pi);
      info.device_index = static_cast<int>(di);
      list.devices.push_back(std::move(info));
    }
  }
  if (list.devices.empty()) list.reason = "OpenCL platforms exist but none has a device";
  return list;
}

}  // namespace

std::string DeviceInfo::cache_identity() const {
  return platform_name + "|" + name + "|" + vendor + "|" + version + "|" + driver_version;
}

DeviceList enumerate_devices() {
  // Once per process: PoCL's first clGetDeviceIDs is not thread-safe (concurrent Engine creation crashed
  // inside it), and the device set cannot change under a loaded ICD anyway.
  static std::once_flag once;
  static DeviceList list;
  std::call_once(once, [] {
    try {
      list = enumerate_unchecked();
    } catch (const std::exception& e) {  // a broken driver must not take the CPU path down with it
      list = DeviceList();
      list.reason = std::string("OpenCL enumeration failed: ") + e.what();
    }
  });
  return list;
}

std::string build_options(const DeviceInfo& device, Precision precision) {
  if (precision == Precision::Fp32) return "";
  return device.fp16 ? "-DFACERT_FP16_MATH" : "-DFACERT_FP16_STORAGE";
}

std::string precision_summary(const DeviceInfo& device) {
  return device.fp16 ? "fp32; fp16: half arithmetic (cl_khr_fp16)"
                     : "fp32; fp16: half storage, float math (no cl_khr_fp16)";
}

const DeviceInfo* default_device(const DeviceList& list) {
  for (const DeviceInfo& d : list.devices)
    if (d.type == "gpu") return &d;
  return list.devices.empty() ? nullptr : &list.devices.front();
}

}  // namespace facert::opencl
