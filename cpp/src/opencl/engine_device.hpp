// The engine's device request and the OpenCL half of the choice, so cpp/src/engine needs few lines for it:
// "cpu" -> no OpenCL backend; "gpu" and "hetero" -> the OpenCL backend or a Device-kind Status saying why not;
// "auto" -> the OpenCL backend when it can be opened, else the CPU with the reason kept for engine.info.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "opencl/backend.hpp"

namespace facert::opencl {

struct DeviceRequest {
  std::string device = "cpu";      // "cpu" | "gpu" | "hetero" | "auto"
  std::string precision = "fp32";  // "fp32" | "fp16" (fp16 needs the OpenCL backend)
  std::string cache_dir;           // "" = default user cache dir
  // device="hetero": op name (as engine.plan() prints it) -> "cpu" | "gpu", or, on a concat whose inputs come
  // from two convs (a fire module's expand pair), "split": first input's conv on the CPU, second's on the
  // OpenCL device, the concat there. Ops not named go where the scheduler puts them.
  std::map<std::string, std::string> placement;
};

struct DeviceChoice {
  std::unique_ptr<Backend> gpu;      // null: run on the CPU
  std::string fallback_reason;       // "auto" chose the CPU: why ("" otherwise)
  bool fallback_is_failure = false;  // OpenCL missing or broken (warn), not a deliberate choice of the CPU
};

Result<DeviceChoice> open_device(const DeviceRequest& request);

}  // namespace facert::opencl
