#include <cstring>

#include "cpu/exec/ops.hpp"

namespace facert::cpu {

namespace {

// Inputs the plan placed inside the output's slice were written there by their producers (or transfers): the
// copy is skipped where source and destination coincide.
class ConcatExec : public sched::Execution {
 public:
  ConcatExec(const graph::Graph& g, const graph::Op& op) {
    const auto& os = g.tensors[op.output].shape;
    for (int t : op.inputs) bytes_.push_back(size_t(g.tensors[t].shape[0] * os[1] * os[2]) * sizeof(float));
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    for (int i = 0; i < n; ++i) {
      char* dst = reinterpret_cast<char*>(at(out, i));
      for (size_t k = 0; k < bytes_.size(); ++k) {
        const char* src = reinterpret_cast<const char*>(at(in[k], i));
        if (src != dst) std::memcpy(dst, src, bytes_[k]);
        dst += bytes_[k];
      }
    }
  }

 private:
  std::vector<size_t> bytes_;
};

}  // namespace

std::unique_ptr<sched::Execution> make_concat(const ExecContext&, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<ConcatExec>(g, op);
}

}  // namespace facert::cpu
