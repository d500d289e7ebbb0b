#include <algorithm>

#include "cpu/exec/ops.hpp"

namespace facert::cpu {

namespace {

// out = x >= 0 ? x : slope[c] * x, one channel plane at a time, written as max(x, 0) + slope * min(x, 0): the
// compiler vectorises that (the select it left as one data-dependent branch per element, 1.5x slower on real
// activations than on the repeated input a profile times). NaN stays NaN. No ISA kernels: memory-bound.
// (C) tensors are C planes of one element.
class PReluExec : public sched::Execution {
 public:
  PReluExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), slope_(g.weights[op.weight].data) {
    const auto& s = g.tensors[op.inputs[0]].shape;
    plane_ = s.size() == 3 ? s[1] * s[2] : 1;
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    const int64_t c = int64_t(slope_.size());
    ctx_.pool->parallel_for(n * c, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const float* x = at(in[0], int(k / c)) + (k % c) * plane_;
        float* y = at(out, int(k / c)) + (k % c) * plane_;
        const float a = slope_[size_t(k % c)];
        for (int64_t i = 0; i < plane_; ++i) y[i] = std::max(x[i], 0.0f) + a * std::min(x[i], 0.0f);
      }
    });
  }

 private:
  ExecContext ctx_;
  std::vector<float> slope_;
  int64_t plane_ = 1;
};

}  // namespace

std::unique_ptr<sched::Execution> make_prelu(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<PReluExec>(ctx, g, op);
}

}  // namespace facert::cpu
