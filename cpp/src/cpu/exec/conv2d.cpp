#include "cpu/exec/ops.hpp"

namespace facert::cpu {

Activation to_cpu(graph::Activation a) {
  switch (a) {
    case graph::Activation::Relu: return Activation::Relu;
    case graph::Activation::Relu6: return Activation::Relu6;
    default: return Activation::None;
  }
}

namespace {

class Conv2dExec : public sched::Execution {
 public:
  Conv2dExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : pool_(ctx.pool) {
    const auto& in = g.tensors[op.inputs[0]].shape;
    const auto& out = g.tensors[op.output].shape;
    Conv2dShape s{int(in[0]), int(in[1]), int(in[2]), int(out[0]), int(out[1]), int(out[2]),
                  op.kernel[0], op.kernel[1], op.stride[0], op.stride[1], op.pad[0], op.pad[1],
                  op.dilation[0], op.dilation[1], op.groups};
    const float* bias = op.bias >= 0 ? g.weights[op.bias].data.data() : nullptr;
    conv_ = std::make_unique<Conv2d>(s, g.weights[op.weight].data.data(), bias, to_cpu(op.activation), ctx.isa);
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    for (int i = 0; i < n; ++i) conv_->run(at(in[0], i), at(out, i), *pool_);
  }

 private:
  ThreadPool* pool_;
  std::unique_ptr<Conv2d> conv_;
};

}  // namespace

std::unique_ptr<sched::Execution> make_conv2d(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<Conv2dExec>(ctx, g, op);
}

}  // namespace facert::cpu
