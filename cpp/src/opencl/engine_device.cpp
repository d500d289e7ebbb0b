#include "opencl/engine_device.hpp"

#include "opencl/devices.hpp"

namespace facert::opencl {

Result<DeviceChoice> choose_device(const graph::Graph& graph, const DeviceRequest& request) {
  if (request.device != "cpu" && request.device != "gpu" && request.device != "auto")
    return Status::argument("device must be 'cpu', 'gpu' or 'auto', got '" + request.device + "'");
  if (request.precision != "fp32" && request.precision != "fp16")
    return Status::argument("precision must be 'fp32' or 'fp16', got '" + request.precision + "'");
  DeviceChoice choice;
  if (request.device == "cpu") {
    if (request.precision == "fp16")
      return Status::argument("precision='fp16' runs on the OpenCL backend only; use device='gpu' or 'auto'");
    return choice;
  }
  if (request.device == "auto") {
    // An OpenCL device of CPU type (PoCL) shares the cores the native CPU backend already uses well:
    // auto only picks OpenCL for a GPU or accelerator; device="gpu" still forces any OpenCL device.
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
  auto backend = Backend::create(graph, options);
  if (backend.is_ok()) {
    choice.gpu = std::move(backend).value();
    return choice;
  }
  if (request.device == "gpu") return backend.status();
  // auto: the CPU computes in fp32 whatever precision was asked for; engine.info says so
  choice.fallback_reason = backend.status().message();
  choice.fallback_is_failure = true;
  return choice;
}

}  // namespace facert::opencl
