#include "cpu/exec/ops.hpp"
#include "cpu/kernel_table.hpp"

namespace facert::cpu {

namespace {

// out = x >= 0 ? x : slope[c] * x, one channel plane at a time, by the ISA's kernel (kernel_table.hpp).
class PReluExec : public sched::Execution {
 public:
  PReluExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), prelu_(kernel_table(ctx.isa).prelu), slope_(g.weights[op.weight].data) {
    const auto& s = g.tensors[op.inputs[0]].shape;
    plane_ = s.size() == 3 ? s[1] * s[2] : 1;
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    const int64_t c = int64_t(slope_.size());
    if (plane_ == 1) {  // a dense layer's (C): one slope per element
      for (int i = 0; i < n; ++i)
        for (int64_t k = 0; k < c; ++k) at(out, i)[k] = prelu_scalar(at(in[0], i)[k], slope_[size_t(k)]);
      return;
    }
    ctx_.pool->parallel_for(n * c, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const float* x = at(in[0], int(k / c)) + (k % c) * plane_;
        float* y = at(out, int(k / c)) + (k % c) * plane_;
        prelu_(x, y, plane_, slope_[size_t(k % c)]);
      }
    });
  }

 private:
  ExecContext ctx_;
  void (*prelu_)(const float*, float*, int64_t, float);
  std::vector<float> slope_;
  int64_t plane_ = 1;
};

}  // namespace

std::unique_ptr<sched::Execution> make_prelu(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<PReluExec>(ctx, g, op);
}

}  // namespace facert::cpu
