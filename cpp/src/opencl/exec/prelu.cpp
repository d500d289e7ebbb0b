#include <algorithm>

#include "opencl/exec/ops.hpp"

namespace facert::opencl {

namespace {

// kernels/prelu.cl on (C, H, W) maps; input and output may be channel-block slices of a concat output.
class PReluExec : public sched::Execution {
 public:
  PReluExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), shape_(g.tensors[op.inputs[0]].shape) {
    std::vector<float> slope(size_t(blocks(shape_[0])) * 4, 0.0f);  // zero past C: padding lanes stay zero
    const auto& w = g.weights[op.weight].data;
    std::copy(w.begin(), w.end(), slope.begin());
    slope_ = ctx.rt->buffer(slope.size() * sizeof(float), slope.data());
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    const size_t sb = ctx_.rt->storage_bytes();
    const BlockSlice i = block_slice(in[0], shape_, sb), o = block_slice(out, shape_, sb);
    const int hw = int(shape_[1] * shape_[2]);
    ctx_.launch("prelu", {size_t(hw), size_t(blocks(shape_[0])), size_t(n)}, false, mem_of(in[0]), slope_,
                mem_of(out), hw, i.total, i.offset, o.total, o.offset);
  }

 private:
  ExecContext& ctx_;
  std::vector<int64_t> shape_;
  Buffer slope_;
};

}  // namespace

std::string check_prelu(const graph::Graph& g, const graph::Op& op) {
  if (g.tensors[op.inputs[0]].shape.size() != 3) return "prelu on a flat (C) tensor has no OpenCL kernel";
  return "";
}

std::unique_ptr<sched::Execution> make_prelu(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<PReluExec>(ctx, g, op);
}

}  // namespace facert::opencl
