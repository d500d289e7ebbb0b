#include "sched/executor.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace facert::sched {

// Free arenas of one device; an arena serves any call of at most its capacity.
class Executor::Pool {
 public:
  Pool(Backend* b, const Plan& p, const graph::Graph& g) : backend_(b), plan_(p), g_(g) {}
  std::unique_ptr<Arena> acquire(int n) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < free_.size(); ++i)
        if (free_[i]->capacity >= n) {
          auto a = std::move(free_[i]);
          free_.erase(free_.begin() + i);
          return a;
        }
    }
    return backend_->arena(plan_, g_, n);
  }
  void release(std::unique_ptr<Arena> a) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < 8) free_.push_back(std::move(a));
  }

 private:
  Backend* backend_;
  const Plan& plan_;
  const graph::Graph& g_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Arena>> free_;
};

Executor::Executor(const graph::Graph& g, Plan plan, Backend* const* backends, std::vector<Execution*> executions)
    : g_(g), plan_(std::move(plan)), executions_(std::move(executions)) {
  for (int d = 0; d < kDevices; ++d) {
    backends_[d] = backends[d];
    if (backends_[d]) pools_[d] = std::make_unique<Pool>(backends_[d], plan_, g_);
  }
  const bool cpu_ops = plan_.uses(Device::Cpu);
  // One host arena now, not in the first run: its first touch (hundreds of page faults) made the first
  // inference about twice the steady time.
  if (cpu_ops && plan_.arena_bytes[int(Device::Cpu)] > 0) pools_[int(Device::Cpu)]->release(pools_[int(Device::Cpu)]->acquire(1));
  chunk_ = cpu_ops ? 1 : 1 << 20;
  for (int d = 0; d < kDevices; ++d)
    if (backends_[d] && plan_.uses(Device(d))) chunk_ = std::max(1, std::min(chunk_, backends_[d]->max_images(plan_)));
}

Executor::~Executor() = default;

void Executor::run(const float* x, int n, float* out, std::vector<double>* step_ms) const {
  const int64_t in_size = g_.tensors[g_.input_tensor].shape[0] * g_.tensors[g_.input_tensor].shape[1] *
                          g_.tensors[g_.input_tensor].shape[2];
  int64_t dim = 1;  // output elements per image: (D) or a detector's (D, h, w)
  for (int64_t d : g_.tensors[g_.output_tensor].shape) dim *= d;
  Backend* cpu = backends_[int(Device::Cpu)];
  if (cpu && !plan_.uses(Device::Gpu) && chunk_ == 1 && n > 1 && step_ms == nullptr) {
    // CPU alone: the backend may run images concurrently, each with its own arena from the pool.
    cpu->for_each_image(n, [&](int i) { run_chunk(x + i * in_size, 1, out + i * dim, nullptr); });
    return;
  }
  for (int i = 0; i < n; i += chunk_) {
    const int m = std::min(chunk_, n - i);
    run_chunk(x + i * in_size, m, out + i * dim, step_ms);
  }
}

void Executor::run_chunk(const float* x, int n, float* out, std::vector<double>* step_ms) const {
  // A plan with no OpenCL op has no transfer either: it never touches the queue (no clFinish per call).
  Backend* gpu = plan_.uses(Device::Gpu) ? backends_[int(Device::Gpu)] : nullptr;
  std::unique_ptr<Arena> arenas[kDevices];
  for (int d = 0; d < kDevices; ++d)
    if (plan_.arena_bytes[d] > 0 || (d == int(Device::Gpu) && plan_.uses(Device::Gpu)))
      arenas[d] = pools_[d]->acquire(n);
  const auto& in_shape = g_.tensors[g_.input_tensor].shape;
  View input;
  input.host = const_cast<float*>(x);
  input.image_stride = in_shape[0] * in_shape[1] * in_shape[2] * int64_t(sizeof(float));
  auto view = [&](int t) -> const View& {
    if (t == plan_.input) return input;
    return arenas[int(plan_.tensors[t].device)]->views[t];
  };
  std::vector<void*> pending(plan_.tensors.size(), nullptr);  // download tickets the host has not waited for
  auto wait_for = [&](int t) {
    if (pending[t]) gpu->wait(pending[t]), pending[t] = nullptr;
  };
  auto drain = [&] {
    for (auto& p : pending)
      if (p) gpu->wait(p), p = nullptr;
    if (gpu) gpu->finish();
  };
  try {
    bool enqueued = false;
    std::vector<View> ins;
    if (step_ms) step_ms->resize(plan_.steps.size(), 0.0);
    for (size_t s = 0; s < plan_.steps.size(); ++s) {
      const Step& st = plan_.steps[s];
      const auto t0 = std::chrono::steady_clock::now();
      const auto& shape = g_.tensors[plan_.tensors[st.output].tensor].shape;
      switch (st.kind) {
        case StepKind::Op:
          ins.clear();
          for (int t : st.inputs) {
            if (st.device == Device::Cpu) wait_for(t);
            ins.push_back(view(t));
          }
          if (st.device == Device::Cpu && enqueued) gpu->flush(), enqueued = false;
          executions_[st.op]->run(ins.data(), view(st.output), n);
          enqueued |= st.device == Device::Gpu;
          break;
        case StepKind::Upload:
          gpu->upload(view(st.inputs[0]), view(st.output), shape, n, *arenas[int(Device::Gpu)]);
          enqueued = true;
          break;
        case StepKind::Download:
          pending[st.output] = gpu->download(view(st.inputs[0]), view(st.output), shape, n, *arenas[int(Device::Gpu)]);
          enqueued = true;
          break;
      }
      if (step_ms) {
        drain();
        (*step_ms)[s] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
    }
    wait_for(plan_.output);
    const View& o = view(plan_.output);
    int64_t dim = 1;
    for (int64_t d : g_.tensors[g_.output_tensor].shape) dim *= d;
    for (int i = 0; i < n; ++i)
      std::memcpy(out + i * dim, static_cast<const char*>(o.host) + i * o.image_stride, size_t(dim) * sizeof(float));
    drain();  // nothing may still read or write an arena that goes back to the pool
  } catch (...) {
    try {
      drain();
    } catch (...) {
    }
    throw;  // the arenas are dropped, not pooled: a failed device may have left them in any state
  }
  for (int d = 0; d < kDevices; ++d)
    if (arenas[d]) pools_[d]->release(std::move(arenas[d]));
}

}  // namespace facert::sched
