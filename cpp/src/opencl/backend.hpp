// The OpenCL backend as the engine sees it: a whole graph on one OpenCL device, with errors as Status values
// (kind Device) like the rest of the core. The engine (cpp/src/engine) owns one when device="gpu" or when
// device="auto" found a usable device; host<->device copies happen only at forward()'s input and output.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "graph/graph.hpp"
#include "model/status.hpp"

namespace facert::opencl {

class Network;
class Runtime;

struct BackendOptions {
  std::string precision = "fp32";  // "fp32" | "fp16" (half storage; half math where cl_khr_fp16 exists)
  std::string cache_dir;           // "" = FACERT_CACHE_DIR, XDG_CACHE_HOME/facert or ~/.cache/facert
  int device_index = -1;           // index in opencl_devices(); -1 = first GPU, else first device
};

class Backend {
 public:
  // Builds the kernels (binary cache), uploads packed weights, plans buffers and warms up once.
  // Device-kind Status when no OpenCL device exists, the kernels do not build (with the build log), the graph
  // has an op the backend cannot run, or the device runs out of memory.
  static Result<std::unique_ptr<Backend>> create(const graph::Graph& graph, const BackendOptions& options);
  ~Backend();

  // x: (n, C, H, W) float, already normalised; out: (n, D). l2_normalize: divide each row by its norm.
  // Thread-safe; a device out-of-memory is a Device-kind Status, never a crash.
  Status forward(const float* x, int n, float* out, bool l2_normalize);

  // For engine.info: "device", "device_vendor", "driver_version", "precision_variant", "program_from_cache",
  // "program_build_ms", "create_ms", "cache_dir".
  const std::map<std::string, std::string>& info() const { return info_; }
  const std::string& precision() const { return precision_; }  // "fp32" | "fp16"

 private:
  Backend() = default;
  std::shared_ptr<Runtime> runtime_;
  std::unique_ptr<Network> network_;
  std::map<std::string, std::string> info_;
  std::string precision_;
};

// Why the backend cannot be used here ("" when a device exists): for device="auto" falling back to the CPU.
std::string unavailable_reason();

}  // namespace facert::opencl
