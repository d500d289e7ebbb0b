#include "cpu/exec/ops.hpp"

namespace facert::cpu {

namespace {

class LinearExec : public sched::Execution {
 public:
  LinearExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : pool_(ctx.pool) {
    const auto& w = g.weights[op.weight].shape;
    const float* bias = op.bias >= 0 ? g.weights[op.bias].data.data() : nullptr;
    linear_ = std::make_unique<Linear>(int(w[1]), int(w[0]), g.weights[op.weight].data.data(), bias,
                                       to_cpu(op.activation), ctx.isa);
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    for (int i = 0; i < n; ++i) linear_->run(at(in[0], i), at(out, i), 1, *pool_);
  }

 private:
  ThreadPool* pool_;
  std::unique_ptr<Linear> linear_;
};

}  // namespace

std::unique_ptr<sched::Execution> make_linear(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<LinearExec>(ctx, g, op);
}

}  // namespace facert::cpu
