// Linear: out[b][o] = act(bias[o] + dot(W[o], x[b])). A GEMV at batch 1, bound by reading W once,
// so each output is one vectorised dot product; parallel over output features.
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/kernel_table.hpp"
#include "cpu/kernels.hpp"

namespace facert::cpu {

struct Linear::Impl {
  int in_features, out_features;
  std::vector<float> weight, bias;  // weight row-major (out, in); bias empty when absent
  Activation act;
  const KernelTable* table;
};

Linear::Linear(int in_features, int out_features, const float* weight, const float* bias, Activation act, Isa isa)
    : impl_(std::make_unique<Impl>()) {
  if (in_features <= 0 || out_features <= 0)
    throw std::invalid_argument("linear: in_features=" + std::to_string(in_features) +
                                " and out_features=" + std::to_string(out_features) + " must be positive");
  Impl& p = *impl_;
  p.in_features = in_features;
  p.out_features = out_features;
  p.weight.assign(weight, weight + static_cast<int64_t>(in_features) * out_features);
  if (bias) p.bias.assign(bias, bias + out_features);
  p.act = act;
  p.table = &kernel_table(isa);
}

Linear::~Linear() = default;
Linear::Linear(Linear&&) noexcept = default;

void Linear::run(const float* in, float* out, int n, ThreadPool& pool) const {
  const Impl& p = *impl_;
  const int64_t total = static_cast<int64_t>(n) * p.out_features;
  parallel_for_work(pool, total, total * p.in_features, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / p.out_features, o = t % p.out_features;
      float v = p.table->dot(p.weight.data() + o * p.in_features, in + b * p.in_features, p.in_features);
      if (!p.bias.empty()) v += p.bias[o];
      out[t] = apply_activation(v, p.act);
    }
  });
}

}  // namespace facert::cpu
