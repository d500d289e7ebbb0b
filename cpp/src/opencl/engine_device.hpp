// The engine's device choice in one call, so cpp/src/engine needs only a few lines for OpenCL:
// "cpu" -> no backend; "gpu" -> the OpenCL backend or a Device-kind Status saying why not;
// "auto" -> the OpenCL backend when it can be built, else the CPU with the reason kept for engine.info.
#pragma once
#include <memory>
#include <string>

#include "opencl/backend.hpp"

namespace facert::opencl {

struct DeviceRequest {
  std::string device = "cpu";      // "cpu" | "gpu" | "auto"
  std::string precision = "fp32";  // "fp32" | "fp16" (fp16 needs the OpenCL backend)
  std::string cache_dir;           // "" = default user cache dir
};

struct DeviceChoice {
  std::unique_ptr<Backend> gpu;  // null: run on the CPU
  std::string fallback_reason;   // "auto" chose the CPU: why ("" otherwise)
  bool fallback_is_failure = false;  // OpenCL missing or broken (warn), not a deliberate choice of the CPU
};

// Call before the graph's fp32 weights are released: the backend copies what it needs.
Result<DeviceChoice> choose_device(const graph::Graph& graph, const DeviceRequest& request);

}  // namespace facert::opencl
