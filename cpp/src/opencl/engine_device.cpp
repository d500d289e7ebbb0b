#include "opencl/engine_device.hpp"

#include "opencl/devices.hpp"

namespace facert::opencl {

Result<DeviceChoice> open_device(const DeviceRequest& request) {
  const std::string& d = request.device;
  if (d != "cpu" && d != "gpu" && d != "auto" && d != "hetero")
    return Status::argument("device must be 'cpu', 'gpu', 'hetero' or 'auto', got '" + d + "'");
  if (request.precision != "fp32" && request.precision != "fp16")
    return Status::argument("precision must be 'fp32' or 'fp16', got '" + request.precision + "'");
  if (!request.placement.empty() && d != "hetero")
    return Status::argument("placement= needs device='hetero' (got device='" + d + "')");
  DeviceChoice choice;
  if (d == "cpu") {
    if (request.precision == "fp16")
      return Status::argument("precision='fp16' runs on the OpenCL backend only; use device='gpu' or 'auto'");
    return choice;
  }
  if (d == "auto") {
    // An OpenCL device of CPU type (PoCL) shares the cores the native CPU backend already uses well:
    // auto only picks OpenCL for a GPU or accelerator; device="gpu" or "hetero" still forces any OpenCL device.
    const DeviceList list = enumerate_devices();
    const DeviceInfo* best = default_device(list);
    if (!best) {
      choice.fallback_reason = "no OpenCL device: " + list.reason;
      choice.fallback_is_failure = true;
      return choice;
    }
    if (best->type == "cpu") {
      choice.fallback_reason = "the only OpenCL device, '" + best->name +
                               "', is a CPU device; the native CPU backend is faster on it (device='gpu' forces it)";
      return choice;
    }
  }
  BackendOptions options;
  options.precision = request.precision;
  options.cache_dir = request.cache_dir;
  auto backend = Backend::create(options);
  if (backend.is_ok()) {
    choice.gpu = std::move(backend).value();
    return choice;
  }
  if (d != "auto") return backend.status();
  // auto: the CPU computes in fp32 whatever precision was asked for; engine.info says so
  choice.fallback_reason = backend.status().message();
  choice.fallback_is_failure = true;
  return choice;
}

}  // namespace facert::opencl
