#include "opencl/exec/ops.hpp"

namespace facert::opencl {

namespace {

// kernels/pool.cl maxpool2d; the output size (ceil mode applied) comes from the graph's shape rule.
class MaxPool2dExec : public sched::Execution {
 public:
  MaxPool2dExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), op_(op), in_(g.tensors[op.inputs[0]].shape), out_(g.tensors[op.output].shape) {}
  void run(const sched::View* in, const sched::View& out, int n) override {
    const int cb = blocks(in_[0]);
    ctx_.launch("maxpool2d", {size_t(out_[2]), size_t(out_[1]), size_t(n) * cb}, true, mem_of(in[0]), mem_of(out),
                cb, int(in_[1]), int(in_[2]), int(out_[1]), int(out_[2]), op_.kernel[0], op_.kernel[1],
                op_.stride[0], op_.stride[1], op_.pad[0], op_.pad[1]);
  }

 private:
  ExecContext& ctx_;
  graph::Op op_;
  std::vector<int64_t> in_, out_;
};

}  // namespace

std::string check_maxpool2d(const graph::Graph&, const graph::Op&) { return ""; }

std::unique_ptr<sched::Execution> make_maxpool2d(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<MaxPool2dExec>(ctx, g, op);
}

}  // namespace facert::opencl
