#include "cpu/exec/ops.hpp"

namespace facert::cpu {

namespace {

class GlobalAvgPoolExec : public sched::Execution {
 public:
  GlobalAvgPoolExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : ctx_(ctx) {
    const auto& is = g.tensors[op.inputs[0]].shape;
    c_ = int(is[0]), hw_ = int(is[1] * is[2]);
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    for (int i = 0; i < n; ++i) global_avgpool(at(in[0], i), c_, hw_, at(out, i), ctx_.isa, *ctx_.pool);
  }

 private:
  ExecContext ctx_;
  int c_, hw_;
};

}  // namespace

std::unique_ptr<sched::Execution> make_global_avgpool(const ExecContext& ctx, const graph::Graph& g,
                                                      const graph::Op& op) {
  return std::make_unique<GlobalAvgPoolExec>(ctx, g, op);
}

}  // namespace facert::cpu
