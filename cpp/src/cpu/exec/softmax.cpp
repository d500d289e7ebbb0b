#include <cmath>
#include <vector>

#include "cpu/exec/ops.hpp"

namespace facert::cpu {

namespace {

// Softmax over channels at every position of a (C, H, W) or (C) tensor: exp(x - max) / sum, the max taken
// first so that large logits cannot overflow. Works on rows of positions so every pass reads planes in order.
class SoftmaxExec : public sched::Execution {
 public:
  SoftmaxExec(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) : ctx_(ctx) {
    const auto& s = g.tensors[op.inputs[0]].shape;
    c_ = s[0];
    plane_ = s.size() == 3 ? s[1] * s[2] : 1;
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    constexpr int64_t kChunk = 256;  // positions per task
    const int64_t chunks = (plane_ + kChunk - 1) / kChunk;
    ctx_.pool->parallel_for(n * chunks, [&](int64_t begin, int64_t end) {
      std::vector<float> mx(kChunk), sum(kChunk);
      for (int64_t k = begin; k < end; ++k) {
        const float* x = at(in[0], int(k / chunks));
        float* y = at(out, int(k / chunks));
        const int64_t p0 = (k % chunks) * kChunk, len = std::min(kChunk, plane_ - p0);
        for (int64_t i = 0; i < len; ++i) mx[i] = x[p0 + i], sum[i] = 0.0f;
        for (int64_t c = 1; c < c_; ++c)
          for (int64_t i = 0; i < len; ++i) mx[i] = std::max(mx[i], x[c * plane_ + p0 + i]);
        for (int64_t c = 0; c < c_; ++c)
          for (int64_t i = 0; i < len; ++i) {
            const float e = std::exp(x[c * plane_ + p0 + i] - mx[i]);
            y[c * plane_ + p0 + i] = e;
            sum[i] += e;
          }
        for (int64_t c = 0; c < c_; ++c)
          for (int64_t i = 0; i < len; ++i) y[c * plane_ + p0 + i] /= sum[i];
      }
    });
  }

 private:
  ExecContext ctx_;
  int64_t c_ = 1, plane_ = 1;
};

}  // namespace

std::unique_ptr<sched::Execution> make_softmax(const ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<SoftmaxExec>(ctx, g, op);
}

}  // namespace facert::cpu
