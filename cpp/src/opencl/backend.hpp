// The OpenCL device as a sched::Backend. The runtime (context, in-order queue, program binary cache, tuning;
// opencl/runtime.*) stays apart from the per-op executions (opencl/exec/), as in MNN's OpenCLBackend: this
// class owns one runtime, creates one execution per op placed here, gives arenas (one buffer per plan,
// sliced into sub-buffers per root tensor) and moves tensors to and from the host through kernels/convert.cl.
// Errors are opencl::Error exceptions inside a run (the engine turns them into Device-kind Statuses) and
// Device-kind Statuses from create().
#pragma once
#include <map>
#include <memory>
#include <string>

#include "model/status.hpp"
#include "opencl/exec/ops.hpp"
#include "sched/plan.hpp"

namespace facert::opencl {

struct BackendOptions {
  std::string precision = "fp32";  // "fp32" | "fp16" (half storage; half math where cl_khr_fp16 exists)
  std::string cache_dir;           // "" = FACERT_CACHE_DIR, XDG_CACHE_HOME/facert or ~/.cache/facert
  int device_index = -1;           // index in opencl_devices(); -1 = first GPU, else first device
};

class Backend : public sched::Backend {
 public:
  // Opens the device and builds (or loads) the kernels program. Device-kind Status when no OpenCL device
  // exists or the kernels do not build (with the build log).
  static Result<std::unique_ptr<Backend>> create(const BackendOptions& options);
  // On a runtime already open (the probe); throws Error.
  static std::unique_ptr<Backend> on_runtime(std::shared_ptr<Runtime> runtime);
  ~Backend() override;

  sched::Device device() const override { return sched::Device::Gpu; }
  const sched::Layout& layout() const override { return layout_; }
  std::string unsupported(const graph::Graph& g, int op) const override;
  std::unique_ptr<sched::Execution> prepare(const graph::Graph& g, int op) override;
  std::unique_ptr<sched::Arena> arena(const sched::Plan& plan, const graph::Graph& g, int capacity) override;
  void upload(const sched::View& host, const sched::View& dst, const std::vector<int64_t>& shape, int n,
              sched::Arena& arena) override;
  void* download(const sched::View& src, const sched::View& host, const std::vector<int64_t>& shape, int n,
                 sched::Arena& arena) override;
  void wait(void* ticket) override;
  void flush() override;
  void finish() override;

  // After the first run of every kernel: stores the program binary (PoCL compiles at first launch) and tuning.
  void save_caches();
  // Test hook: the n-th kernel launch from now fails as a CL error would (n <= 0: off).
  void fail_after(int n) { ctx_.fail_countdown = n; }

  // For engine.info: "device", "device_vendor", "driver_version", "precision_variant", "program_from_cache",
  // "cache_dir", and where creating an engine spent its time: "enumerate_ms" (platforms and devices),
  // "context_ms", "program_build_ms" (or its load from the cache), "create_ms" (this backend, those three
  // included); the engine adds "warmup_ms" (its first run with tuning, a hetero engine's frames-in-flight
  // measurement, the cache writes) and "engine_ms" (the whole Engine creation, everything above included).
  const std::map<std::string, std::string>& info() const { return info_; }
  void note_ms(const std::string& key, double ms) { info_[key] = std::to_string(ms); }
  const std::string& precision() const { return precision_; }  // "fp32" | "fp16"
  Runtime& runtime() { return *runtime_; }
  std::string identity() const;  // device and driver, for cost-model cache keys

 private:
  Backend() = default;
  std::shared_ptr<Runtime> runtime_;
  ExecContext ctx_;
  sched::Layout layout_;
  std::map<std::string, std::string> info_;
  std::string precision_;
};

// Why the backend cannot be used here ("" when a device exists): for device="auto" falling back to the CPU.
std::string unavailable_reason();

}  // namespace facert::opencl
