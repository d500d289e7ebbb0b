#include "opencl/exec/ops.hpp"

namespace facert::opencl {

namespace {

// kernels/pool.cl global_avgpool: NC4HW4 -> flat (N, C) float. (L2 normalisation is the engine's, on the host.)
class GlobalAvgPoolExec : public sched::Execution {
 public:
  GlobalAvgPoolExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), in_(g.tensors[op.inputs[0]].shape) {}
  void run(const sched::View* in, const sched::View& out, int n) override {
    const int cb = blocks(in_[0]);
    ctx_.launch("global_avgpool", {size_t(cb), size_t(n), 0}, false, mem_of(in[0]), mem_of(out), cb, int(in_[0]),
                int(in_[1] * in_[2]));
  }

 private:
  ExecContext& ctx_;
  std::vector<int64_t> in_;
};

}  // namespace

std::string check_global_avgpool(const graph::Graph&, const graph::Op&) { return ""; }

std::unique_ptr<sched::Execution> make_global_avgpool(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<GlobalAvgPoolExec>(ctx, g, op);
}

}  // namespace facert::opencl
