// Builds the kernels for a device (through the binary cache) and runs a tiny network that launches every
// kernel once: what `facert devices --check` and the cache tests use without needing a model file.
#pragma once
#include <string>
#include <vector>

#include "opencl/devices.hpp"
#include "opencl/runtime.hpp"

namespace facert::opencl {

struct ProbeResult {
  RuntimeStats stats;
  double create_ms = 0;   // runtime + executions + warm-up
  double forward_ms = 0;  // one more forward after warm-up
  std::vector<float> output;  // the probe network's (1, 8) output, L2-normalised
};

// Throws Error (kind Build / OutOfMemory / Runtime) when the device cannot run the kernels.
ProbeResult probe_device(const DeviceInfo& device, const RuntimeOptions& options);

}  // namespace facert::opencl
