#include "opencl/exec/ops.hpp"

namespace facert::opencl {

namespace {

// kernels/softmax.cl over the channels of a (C, H, W) map; input and output may be channel-block slices.
class SoftmaxExec : public sched::Execution {
 public:
  SoftmaxExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), shape_(g.tensors[op.inputs[0]].shape) {}
  void run(const sched::View* in, const sched::View& out, int n) override {
    const size_t sb = ctx_.rt->storage_bytes();
    const BlockSlice i = block_slice(in[0], shape_, sb), o = block_slice(out, shape_, sb);
    const int hw = int(shape_[1] * shape_[2]);
    ctx_.launch("softmax", {size_t(hw), size_t(n), 0}, false, mem_of(in[0]), mem_of(out), hw, int(shape_[0]),
                i.total, i.offset, o.total, o.offset);
  }

 private:
  ExecContext& ctx_;
  std::vector<int64_t> shape_;
};

}  // namespace

std::string check_softmax(const graph::Graph& g, const graph::Op& op) {
  if (g.tensors[op.inputs[0]].shape.size() != 3) return "softmax on a flat (C) tensor has no OpenCL kernel";
  return "";
}

std::unique_ptr<sched::Execution> make_softmax(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<SoftmaxExec>(ctx, g, op);
}

}  // namespace facert::opencl
