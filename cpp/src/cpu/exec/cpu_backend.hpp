// The CPU as a sched::Backend: NCHW float, per-op executions from engine/op_table.cpp, host arenas, the
// engine's thread pool.
#pragma once
#include <functional>
#include <memory>

#include "cpu/exec/ops.hpp"
#include "sched/plan.hpp"

namespace facert::cpu {

class CpuBackend : public sched::Backend {
 public:
  CpuBackend(int threads, Isa isa);  // threads <= 0: physical cores
  sched::Device device() const override { return sched::Device::Cpu; }
  const sched::Layout& layout() const override { return layout_; }
  std::string unsupported(const graph::Graph&, int) const override { return ""; }
  std::unique_ptr<sched::Execution> prepare(const graph::Graph& g, int op) override;
  std::unique_ptr<sched::Arena> arena(const sched::Plan& plan, const graph::Graph& g, int capacity) override;
  // The part of the batch that fills the pool evenly runs whole images per thread (one parallel region, no
  // barrier per layer; the ops inside run inline); the rest, a batch of 1 included, splits each layer.
  void for_each_image(int n, const std::function<void(int)>& fn) override;
  ThreadPool& pool() { return *pool_; }
  Isa isa() const { return ctx_.isa; }

 private:
  std::unique_ptr<ThreadPool> pool_;
  ExecContext ctx_;
  sched::Layout layout_;
};

}  // namespace facert::cpu
