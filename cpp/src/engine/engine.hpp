// The CPU inference engine: a loaded model, its kernels (built once, weights repacked at load),
// a plan, a thread pool and per-call arenas. All public methods are const and thread-safe.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/kernels.hpp"
#include "cpu/thread_pool.hpp"
#include "engine/preprocess.hpp"
#include "model/model_file.hpp"
#include "model/status.hpp"
#include "opencl/engine_device.hpp"
#include "sched/arena_pool.hpp"
#include "sched/plan.hpp"

namespace facert::engine {

class Engine {
 public:
  // threads <= 0: physical cores. isa: "auto", "ref", "avx2", "avx512", "neon".
  // device: "cpu" | "gpu" | "auto" with precision "fp32" | "fp16" (OpenCL backend, cpp/src/opencl/).
  static Result<std::unique_ptr<Engine>> create(const std::string& path, int threads, const std::string& isa,
                                                const opencl::DeviceRequest& device = {});
  ~Engine();

  const model::Model& model() const { return model_; }
  const graph::Graph& graph() const { return model_.graph; }
  const sched::Plan& plan() const { return plan_; }
  int dim() const { return model_.graph.output.dim; }
  std::array<int, 3> input_shape() const;
  int64_t input_size() const;  // C*H*W floats
  int threads() const;
  const char* isa_name() const;
  const opencl::Backend* gpu() const { return gpu_.get(); }  // null: the network runs on the CPU
  const std::string& fallback_reason() const { return fallback_reason_; }  // device="auto" chose the CPU: why
  bool fallback_is_failure() const { return fallback_is_failure_; }       // ... because OpenCL is missing/broken

  // x: (n, C, H, W) contiguous, already normalised; out: (n, dim), the raw head output.
  Status forward(const float* x, int64_t n, float* out) const;
  // out: (dim), L2-normalised when the model's output says so.
  Status embed(const ImageView& img, float* out) const;
  // out: (n, dim), one embed per image, one arena for the whole call.
  Status embed_batch(const ImageView* imgs, int64_t n, float* out) const;
  // out: (C, H, W), exactly what embed feeds the network.
  Status preprocess(const ImageView& img, float* out) const;

 private:
  Engine() = default;
  Status build_kernels();
  // Runs the plan on one image whose input is at `x`; writes the head output to `out`.
  void run_image(float* arena, const float* x, float* out) const;
  void finish_embedding(float* v) const;

  model::Model model_;
  sched::Plan plan_;
  cpu::Isa isa_ = cpu::Isa::Ref;
  std::unique_ptr<cpu::ThreadPool> pool_;
  std::unique_ptr<sched::ArenaPool> arenas_;
  std::vector<std::unique_ptr<cpu::Conv2d>> convs_;    // per op; null unless conv2d
  std::vector<std::unique_ptr<cpu::Linear>> linears_;  // per op; null unless linear
  std::unique_ptr<opencl::Backend> gpu_;               // the whole network on OpenCL, when chosen
  std::string fallback_reason_;
  bool fallback_is_failure_ = false;
};

}  // namespace facert::engine
