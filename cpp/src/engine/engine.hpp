// facert's inference engine: load -> backends -> place -> run. A loaded model (graph/), the CPU backend and,
// when asked for, the OpenCL backend (sched::Backend each, one execution per op), a device-aware plan
// (sched/plan) and an executor running it. All public methods are const and thread-safe; errors are Statuses.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/exec/cpu_backend.hpp"
#include "engine/preprocess.hpp"
#include "engine/thread_width.hpp"
#include "model/model_file.hpp"
#include "model/status.hpp"
#include "opencl/engine_device.hpp"
#include "sched/cost.hpp"
#include "sched/executor.hpp"
#include "sched/placement.hpp"
#include "sched/plan.hpp"

namespace facert::engine {

class Engine {
 public:
  // threads <= 0: physical cores. isa: "auto", "ref", "avx2", "avx512", "neon".
  // device: "cpu" | "gpu" | "hetero" | "auto", precision "fp32" | "fp16", placement (hetero): see DeviceRequest.
  // input_size {h, w}: run a fully convolutional model at this input size instead of the file's ({0, 0}: the
  // file's), as ncnn/MNN reshape; shapes are inferred again and a size the graph cannot take is refused.
  static Result<std::unique_ptr<Engine>> create(const std::string& path, int threads, const std::string& isa,
                                                const opencl::DeviceRequest& device = {},
                                                std::array<int, 2> input_size = {0, 0});
  ~Engine();

  const model::Model& model() const { return model_; }
  const graph::Graph& graph() const { return model_.graph; }
  const sched::Plan& plan() const { return executor().plan(); }
  int dim() const { return model_.graph.output.dim; }
  // Per image: (dim) for an embedding model, (dim, h, w) for a detector's map; output_size() = its elements.
  const std::vector<int64_t>& output_shape() const { return model_.graph.tensors[model_.graph.output_tensor].shape; }
  int64_t output_size() const;
  std::array<int, 3> input_shape() const;
  int64_t input_size() const;  // C*H*W floats
  int threads() const;
  int threads_in_use() const;  // for one image, now: threads(), or 1 where one measured faster (thread_width.hpp)
  const char* isa_name() const;
  const opencl::Backend* gpu() const { return gpu_.get(); }  // null: no OpenCL backend
  // "cpu" | "gpu" | "hetero": what the plan in force uses ("cpu" after a hetero engine fell back)
  std::string device() const;
  std::string fallback_reason() const;  // the CPU is used instead of what was asked: why
  bool fallback_is_failure() const { return fallback_is_failure_; }  // ... because OpenCL is missing/broken
  std::map<std::string, std::string> placement() const;             // op name -> "cpu" | "gpu"
  std::string describe_plan() const;                                 // engine.plan()
  // The scheduler's view (hetero, or auto with an OpenCL GPU, unless every op was pinned): where the costs came
  // from and every plan family's predicted ms; null otherwise.
  const sched::Schedule* schedule() const { return schedule_.get(); }
  const std::string& cost_source() const { return costs_.source; }
  bool frames_in_flight() const { return frames_in_flight_; }  // batches shared across both devices
  double stream_alone_ms() const { return stream_alone_ms_; }

  // x: (n, C, H, W) contiguous, already normalised; out: (n, output_size()), the raw head output.
  Status forward(const float* x, int64_t n, float* out) const;
  // out: (dim), L2-normalised when the model's output says so.
  Status embed(const ImageView& img, float* out) const;
  // out: (n, dim), one embedding per image.
  Status embed_batch(const ImageView* imgs, int64_t n, float* out) const;
  // out: (C, H, W), exactly what embed feeds the network.
  Status preprocess(const ImageView& img, float* out) const;
  // Runs the plan `runs` times on zeros with every step timed alone; ms per step (mean), kept for describe_plan.
  Status profile(int runs, std::vector<double>* step_ms) const;
  // Test hook: a batch shared across both devices whether or not it measured faster.
  Status forward_frames_in_flight(const float* x, int64_t n, float* out) const;
  // Test hook: the n-th OpenCL kernel launch from now fails like a CL error.
  Status fail_gpu_after(int n) const;

 private:
  Engine() = default;
  Status build(const opencl::DeviceRequest& request);
  Status prepare_executions(const std::vector<int>& pin);
  std::vector<sched::Device> schedule_placement(const std::vector<int>& pin, const std::string& cache_dir);
  void make_executors(const std::vector<sched::Device>& place);
  std::vector<sched::Execution*> executions_for(const std::vector<sched::Device>& place) const;
  std::unique_ptr<sched::Executor> executor_for(const std::vector<sched::Device>& place) const;
  // Per op: -1 free for the scheduler, else the device it is pinned to.
  Result<std::vector<int>> resolve_placement(const opencl::DeviceRequest& request) const;
  Status run_frames_in_flight(const float* x, int64_t n, float* out) const;
  void keep_frames_in_flight_if_faster();
  const sched::Executor& executor() const;
  Status run(const float* x, int64_t n, float* out) const;
  void finish_embedding(float* v) const;

  model::Model model_;
  std::string requested_;  // "cpu" | "gpu" | "hetero" after the device choice
  std::unique_ptr<cpu::CpuBackend> cpu_;
  std::unique_ptr<opencl::Backend> gpu_;
  sched::Layout layouts_[sched::kDevices];
  std::vector<std::unique_ptr<sched::Execution>> execs_[sched::kDevices];  // per graph op; null where not built
  std::unique_ptr<sched::Executor> main_;      // the plan in force
  std::unique_ptr<sched::Executor> cpu_only_;  // hetero: where it runs once the OpenCL device failed
  std::unique_ptr<sched::Executor> gpu_only_;  // scheduler mode: the OpenCL half of frames in flight
  std::unique_ptr<sched::Schedule> schedule_;
  sched::CostModel costs_;
  std::vector<double> predicted_ms_;  // per step of the plan in force
  bool frames_in_flight_ = false;     // measured faster than the plan in force: used for batches
  double gpu_share_ = 0;              // frames in flight: the fraction of a batch the OpenCL device takes
  double stream_alone_ms_ = -1;       // per frame, the plan in force on a batch (what frames in flight must beat)
  mutable std::atomic<bool> gpu_failed_{false};
  mutable std::mutex mu_;  // guards fallback_reason_ and measured_ms_
  mutable std::string fallback_reason_;
  bool fallback_is_failure_ = false;
  mutable std::vector<double> measured_ms_;
  std::unique_ptr<ThreadWidth> width_;  // CPU threads per single-image run, by measurement
};

}  // namespace facert::engine
