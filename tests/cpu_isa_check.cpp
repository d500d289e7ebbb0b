// Stand-alone check of one ISA's CPU kernels against Isa::Ref, for ISAs this machine cannot run
// natively: tests/test_ops_cross_neon.py cross-compiles it with cpp/src/cpu and runs it under qemu.
// Usage: cpu_isa_check ISA   (prints "ok N" and exits 0, or names the first mismatch and exits 1)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels.hpp"

using namespace facert::cpu;

namespace {

std::mt19937 rng(1);

std::vector<float> random_vector(size_t n) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// max |a - b| / max |b|: fp32 kernels differ from the reference only in summation order (both are
// fp32 here, so weights are scaled to keep sums O(1) and K moderate).
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return err / scale;
}

int fail(const std::string& what, double err) {
  std::printf("MISMATCH %s: rel err %g\n", what.c_str(), err);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Isa isa;
  if (argc < 2 || !parse_isa(argv[1], &isa) || !isa_available(isa)) {
    std::printf("usage: %s ISA (available here: %s)\n", argv[0], isa_name(best_isa()));
    return 2;
  }
  ThreadPool pool(2);
  const double tol = 1e-5;
  int checks = 0;
  std::uniform_int_distribution<int> size(1, 20);
  for (int trial = 0; trial < 120; ++trial) {
    Conv2dShape s{};
    s.groups = trial % 7 == 0 ? 2 : 1;
    s.in_c = size(rng) * s.groups, s.out_c = size(rng) * s.groups;
    s.in_h = size(rng), s.in_w = size(rng);
    s.kh = 1 + trial % 3, s.kw = 1 + (trial / 3) % 3, s.sh = 1 + trial % 2, s.sw = 1 + (trial / 2) % 2;
    s.ph = trial % 2, s.pw = (trial / 4) % 2, s.dh = 1, s.dw = 1 + trial % 2;
    if (trial % 10 == 0) s.in_c = 2 * (100 + trial);  // K up to ~2000: several K blocks
    const int eh = s.in_h + 2 * s.ph - s.dh * (s.kh - 1) - 1, ew = s.in_w + 2 * s.pw - s.dw * (s.kw - 1) - 1;
    if (eh < 0 || ew < 0 || s.in_c % s.groups) continue;
    s.out_h = eh / s.sh + 1, s.out_w = ew / s.sw + 1;
    const int k = s.in_c / s.groups * s.kh * s.kw;
    auto w = random_vector(size_t(s.out_c) * k);
    for (auto& v : w) v /= std::sqrt(static_cast<float>(k));  // outputs O(1), as the layers of a real network
    const auto b = random_vector(s.out_c), x = random_vector(size_t(s.in_c) * s.in_h * s.in_w);
    const size_t out_size = size_t(s.out_c) * s.out_h * s.out_w;
    std::vector<float> expected(out_size), got(out_size);
    Conv2d(s, w.data(), b.data(), Activation::Relu6, Isa::Ref).run(x.data(), expected.data(), pool);
    Conv2d conv(s, w.data(), b.data(), Activation::Relu6, isa);
    conv.run(x.data(), got.data(), pool);
    const double err = rel_err(got, expected);
    if (err > tol) return fail("conv2d trial " + std::to_string(trial) + " (" + conv.method() + ")", err);
    ++checks;
  }
  for (int in : {1, 3, 17, 64, 513})
    for (int out : {1, 5, 128}) {
      const auto w = random_vector(size_t(in) * out), b = random_vector(out), x = random_vector(2 * in);
      std::vector<float> expected(2 * out), got(2 * out);
      Linear(in, out, w.data(), b.data(), Activation::None, Isa::Ref).run(x.data(), expected.data(), 2, pool);
      Linear(in, out, w.data(), b.data(), Activation::None, isa).run(x.data(), got.data(), 2, pool);
      double err = rel_err(got, expected);
      if (err > tol) return fail("linear " + std::to_string(in) + "->" + std::to_string(out), err);
      std::vector<float> avg_expected(in), avg_got(in);
      global_avgpool(w.data(), in, out, avg_expected.data(), Isa::Ref, pool);
      global_avgpool(w.data(), in, out, avg_got.data(), isa, pool);
      err = rel_err(avg_got, avg_expected);
      if (err > tol) return fail("global_avgpool " + std::to_string(in) + "x" + std::to_string(out), err);
      checks += 2;
    }
  for (int w : {1, 7, 13, 27, 40, 55}) {
    for (int pad : {0, 1}) {
      const int h = 9, c = 3;
      Pool2dShape s{c, h, w, pool_out_size(h, 3, 2, pad, true), pool_out_size(w, 3, 2, pad, true), 3, 3, 2, 2, pad, pad};
      if (s.out_w <= 0 || s.out_h <= 0) continue;
      const auto x = random_vector(size_t(c) * h * w);
      std::vector<float> expected(size_t(c) * s.out_h * s.out_w), got(expected.size());
      maxpool2d(s, x.data(), expected.data(), Isa::Ref, pool);
      maxpool2d(s, x.data(), got.data(), isa, pool);
      if (got != expected) return fail("maxpool2d width " + std::to_string(w), rel_err(got, expected));
      ++checks;
    }
  }
  // NaN in, NaN out, as PyTorch: one NaN pixel must give NaN exactly where the reference has it, through
  // ReLU/ReLU6 (GEMM epilogues) and max pooling.
  const auto same_nans = [](const std::vector<float>& a, const std::vector<float>& b) {
    size_t nans = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(a[i]) != std::isnan(b[i])) return false;
      nans += std::isnan(b[i]);
    }
    return nans > 0;
  };
  for (Activation act : {Activation::Relu, Activation::Relu6}) {
    Conv2dShape s{16, 9, 10, 24, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    const auto w = random_vector(size_t(24) * 16 * 9);
    const std::vector<float> b(24, -50.f);  // every clean output clamps to 0: only NaN semantics keep a NaN
    auto x = random_vector(size_t(16) * 9 * 10);
    x[5 * 90 + 4 * 10 + 6] = std::nanf("");
    std::vector<float> expected(size_t(24) * 90), got(expected.size());
    Conv2d(s, w.data(), b.data(), act, Isa::Ref).run(x.data(), expected.data(), pool);
    Conv2d(s, w.data(), b.data(), act, isa).run(x.data(), got.data(), pool);
    if (!same_nans(got, expected)) return fail("conv2d NaN propagation", 0);
    ++checks;
  }
  for (int at : {0, 1, 2, 20, 38}) {
    const int c = 2, h = 5, w = 40;
    Pool2dShape s{c, h, w, pool_out_size(h, 3, 2, 0, true), pool_out_size(w, 3, 2, 0, true), 3, 3, 2, 2, 0, 0};
    auto x = random_vector(size_t(c) * h * w);
    x[size_t(w) * (at % h) + at] = std::nanf("");
    std::vector<float> expected(size_t(c) * s.out_h * s.out_w), got(expected.size());
    maxpool2d(s, x.data(), expected.data(), Isa::Ref, pool);
    maxpool2d(s, x.data(), got.data(), isa, pool);
    if (!same_nans(got, expected)) return fail("maxpool2d NaN propagation at " + std::to_string(at), 0);
    ++checks;
  }
  std::printf("ok %d\n", checks);
  return 0;
}
