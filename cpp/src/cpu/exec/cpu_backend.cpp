#include "cpu/exec/cpu_backend.hpp"

#include <cstdint>

#include "engine/op_table.hpp"

namespace facert::cpu {

namespace {

class HostArena : public sched::Arena {
 public:
  explicit HostArena(int64_t bytes) : buf_(size_t(bytes + 64)) {}
  char* data() {
    auto addr = reinterpret_cast<uintptr_t>(buf_.data());
    return reinterpret_cast<char*>((addr + 63) & ~uintptr_t(63));
  }

 private:
  std::vector<char> buf_;
};

}  // namespace

CpuBackend::CpuBackend(int threads, Isa isa) : pool_(std::make_unique<ThreadPool>(threads)), layout_(sched::cpu_layout()) {
  ctx_.pool = pool_.get();
  ctx_.isa = isa;
}

void CpuBackend::for_each_image(int n, const std::function<void(int)>& fn) {
  const int threads = pool_->size();
  const int whole = threads > 1 ? n - n % threads : 0;
  if (whole > 0)
    pool_->parallel_for(whole, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) fn(int(i));
    });
  for (int i = whole; i < n; ++i) fn(i);
}

std::unique_ptr<sched::Execution> CpuBackend::prepare(const graph::Graph& g, int op) {
  return engine::op_entry(g.ops[op].type).cpu(ctx_, g, g.ops[op]);
}

std::unique_ptr<sched::Arena> CpuBackend::arena(const sched::Plan& plan, const graph::Graph&, int capacity) {
  auto a = std::make_unique<HostArena>(plan.arena_bytes[int(sched::Device::Cpu)] * capacity);
  a->capacity = capacity;
  a->views.resize(plan.tensors.size());
  for (size_t t = 0; t < plan.tensors.size(); ++t) {
    if (plan.tensors[t].device != sched::Device::Cpu || int(t) == plan.input) continue;
    int r = int(t);
    int64_t slice = 0;
    while (plan.tensors[r].alias_of >= 0) slice += plan.tensors[r].slice_bytes, r = plan.tensors[r].alias_of;
    a->views[t].host = a->data() + plan.tensors[r].offset * capacity + slice;
    a->views[t].image_stride = plan.tensors[r].bytes;
  }
  return a;
}

}  // namespace facert::cpu
