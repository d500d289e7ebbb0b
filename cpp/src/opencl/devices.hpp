// Enumerates OpenCL platforms and devices with the capabilities facert uses to pick kernels.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "opencl/cl_api.hpp"

namespace facert::opencl {

enum class Precision { Fp32, Fp16 };

struct DeviceInfo {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  int platform_index = 0, device_index = 0;
  std::string platform_name, platform_vendor, platform_version;
  std::string name, vendor, driver_version, version, opencl_c_version, type, extensions;
  unsigned compute_units = 0, max_clock_mhz = 0;
  size_t max_work_group_size = 0;
  size_t max_work_item_sizes[3] = {0, 0, 0};
  bool image_support = false, fp16 = false;
  uint64_t global_mem_bytes = 0, local_mem_bytes = 0, max_alloc_bytes = 0;

  // Identity for caches: changes when the device or its driver changes.
  std::string cache_identity() const;
};

struct DeviceList {
  std::vector<DeviceInfo> devices;
  std::string library;  // the libOpenCL that was loaded, "" when none
  std::string reason;   // why `devices` is empty
};

// Never throws: no library, no platform or a broken driver give an empty list with the reason. Enumerated
// once per process (thread-safe); later calls return a copy of that list.
DeviceList enumerate_devices();

// The build options a device gets for a precision: fp16 is half arithmetic (-DFACERT_FP16_MATH) where the
// device reports cl_khr_fp16, else half storage with float math (-DFACERT_FP16_STORAGE).
std::string build_options(const DeviceInfo& device, Precision precision);
// One line for people: "fp32; fp16: half storage, float math (no cl_khr_fp16)".
std::string precision_summary(const DeviceInfo& device);

// The device facert uses by default: the first GPU, else the first device of any type.
const DeviceInfo* default_device(const DeviceList& list);

}  // namespace facert::opencl
