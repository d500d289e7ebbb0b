#include <algorithm>

#include "opencl/exec/ops.hpp"
#include "opencl/weight_packing.hpp"

namespace facert::opencl {

namespace {

// kernels/linear.cl on flat (N, I) float activations; weights in the storage type.
class LinearExec : public sched::Execution {
 public:
  LinearExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : ctx_(ctx), act_(activation_code(op.activation)) {
    const auto& ws = g.weights[op.weight].shape;
    out_ = int(ws[0]), in_ = int(ws[1]);
    const auto w = to_storage(g.weights[op.weight].data.data(), size_t(out_) * in_,
                              ctx.rt->precision() == Precision::Fp16);
    std::vector<float> b(out_, 0.0f);
    if (op.bias >= 0) std::copy(g.weights[op.bias].data.begin(), g.weights[op.bias].data.end(), b.begin());
    weight_ = ctx.rt->buffer(w.size(), w.data());
    bias_ = ctx.rt->buffer(b.size() * sizeof(float), b.data());
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    ctx_.launch("linear", {size_t(out_), size_t(n), 0}, false, mem_of(in[0]), weight_, bias_, mem_of(out), in_, out_,
                act_);
  }

 private:
  ExecContext& ctx_;
  int act_, in_ = 0, out_ = 0;
  Buffer weight_, bias_;
};

}  // namespace

std::string check_linear(const graph::Graph&, const graph::Op&) { return ""; }

std::unique_ptr<sched::Execution> make_linear(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<LinearExec>(ctx, g, op);
}

}  // namespace facert::opencl
