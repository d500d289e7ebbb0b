#include "opencl/probe.hpp"

#include <chrono>
#include <cmath>

#include "opencl/network.hpp"

namespace facert::opencl {
namespace {

std::vector<float> ramp(size_t n, float scale) {  // deterministic, sign-alternating weights
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * float(i) + 0.1f);
  return v;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ProbeResult probe_device(const DeviceInfo& device, const RuntimeOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  auto runtime = std::make_shared<Runtime>(device, options);
  // A fire module in miniature: stem conv, ceil-mode pool, squeeze, two expands into one concat, then the head.
  Network net(runtime, 3, 15, 15);
  const auto w_stem = ramp(8 * 3 * 9, 0.2f), b_stem = ramp(8, 0.1f);
  const auto w_sq = ramp(4 * 8, 0.3f), w_e1 = ramp(8 * 4, 0.3f), w_e3 = ramp(8 * 4 * 9, 0.1f);
  const auto w_fc = ramp(8 * 16, 0.2f);
  int t = net.conv2d(net.input(), 8, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, w_stem.data(), b_stem.data());
  t = net.maxpool2d(t, 3, 2, 0, true);
  const int sq = net.conv2d(t, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, w_sq.data(), nullptr);
  const int e1 = net.conv2d(sq, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, w_e1.data(), nullptr);
  const int e3 = net.conv2d(sq, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, w_e3.data(), nullptr);
  t = net.global_avgpool(net.concat({e1, e3}));
  t = net.linear(t, 8, w_fc.data(), nullptr, 0);
  net.finalize(t);
  ProbeResult result;
  result.create_ms = ms_since(t0);
  const auto input = ramp(3 * 15 * 15, 1.0f);
  result.output.resize(8);
  const auto t1 = std::chrono::steady_clock::now();
  net.forward(input.data(), 1, result.output.data(), true);
  result.forward_ms = ms_since(t1);
  result.stats = runtime->stats();
  return result;
}

}  // namespace facert::opencl
