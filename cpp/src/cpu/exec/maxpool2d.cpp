#include "cpu/exec/ops.hpp"

namespace facert::cpu {

namespace {

class MaxPool2dExec : public sched::Execution {
 public:
  MaxPool2dExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : ctx_(ctx) {
    const auto& is = g.tensors[op.inputs[0]].shape;
    const auto& os = g.tensors[op.output].shape;
    shape_ = {int(is[0]), int(is[1]), int(is[2]), int(os[1]), int(os[2]), op.kernel[0],
              op.kernel[1], op.stride[0], op.stride[1], op.pad[0], op.pad[1]};
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    for (int i = 0; i < n; ++i) maxpool2d(shape_, at(in[0], i), at(out, i), ctx_.isa, *ctx_.pool);
  }

 private:
  ExecContext ctx_;
  Pool2dShape shape_;
};

}  // namespace

std::unique_ptr<sched::Execution> make_maxpool2d(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<MaxPool2dExec>(ctx, g, op);
}

}  // namespace facert::cpu
