#include "opencl/exec/ops.hpp"

namespace facert::opencl {

namespace {

// Inputs the plan placed in the output's slice were written there by their producers (a conv or a transfer):
// nothing to do for them. Any other input is copied block by block (kernels/convert.cl copy_nc4hw4).
class ConcatExec : public sched::Execution {
 public:
  ConcatExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : ctx_(ctx), out_(g.tensors[op.output].shape) {
    for (int t : op.inputs) channels_.push_back(g.tensors[t].shape[0]);
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    const size_t sb = ctx_.rt->storage_bytes();
    const BlockSlice o = block_slice(out, out_, sb);
    const int hw = int(out_[1] * out_[2]);
    int block = o.offset;
    for (size_t k = 0; k < channels_.size(); ++k) {
      const BlockSlice s = block_slice(in[k], out_, sb);
      const int cb = blocks(channels_[k]);
      if (!(in[k].mem == out.mem && s.offset == block))
        ctx_.launch("copy_nc4hw4", {size_t(hw), size_t(n) * cb, 0}, false, mem_of(in[k]), mem_of(out), cb, hw,
                    s.total, s.offset, o.total, block);
      block += cb;
    }
  }

 private:
  ExecContext& ctx_;
  std::vector<int64_t> out_, channels_;
};

}  // namespace

std::string check_concat(const graph::Graph& g, const graph::Op& op) {
  int64_t channel = 0;
  for (size_t k = 0; k < op.inputs.size(); ++k) {
    if (channel % 4)
      return "concat input " + std::to_string(k) + " starts at channel " + std::to_string(channel) +
             ", not a multiple of 4 (the NC4HW4 layout's block)";
    channel += g.tensors[op.inputs[k]].shape[0];
  }
  return "";
}

std::unique_ptr<sched::Execution> make_concat(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<ConcatExec>(ctx, g, op);
}

}  // namespace facert::opencl
