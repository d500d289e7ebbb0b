// Runs a Plan: CPU ops on the calling thread (with the CPU backend's thread pool), OpenCL ops and transfers
// enqueued asynchronously; the host waits only where a CPU op reads what a download brings (an event), so CPU
// and OpenCL ops that do not depend on each other run at the same time. Arenas come from a small per-device
// pool, so concurrent calls never share activations and sequential calls reuse memory. Thread-safe.
// Failures are exceptions from the executions (the engine turns them into a Status).
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "graph/graph.hpp"
#include "sched/backend.hpp"
#include "sched/plan.hpp"

namespace facert::sched {

class Executor {
 public:
  // backends: indexed by Device, the CPU always (the host), the OpenCL one where the plan uses it; executions: per graph op, for the device it is placed on.
  Executor(const graph::Graph& g, Plan plan, Backend* const* backends, std::vector<Execution*> executions);
  ~Executor();
  const Plan& plan() const { return plan_; }

  // x: (n, C, H, W) float on the host; out: (n, D), the raw head output. step_ms: when given, each step is
  // timed alone (the OpenCL queue drained after it) and its ms added per step (profiling, not serving).
  void run(const float* x, int n, float* out, std::vector<double>* step_ms = nullptr) const;

 private:
  class Pool;
  void run_chunk(const float* x, int n, float* out, std::vector<double>* step_ms) const;

  const graph::Graph& g_;
  Plan plan_;
  Backend* backends_[kDevices];
  std::vector<Execution*> executions_;
  std::unique_ptr<Pool> pools_[kDevices];
  int chunk_ = 1;  // images per pass: a batch only where no CPU op is involved (the CPU runs image by image)
};

}  // namespace facert::sched
