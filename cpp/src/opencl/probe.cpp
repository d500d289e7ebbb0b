#include "opencl/probe.hpp"

#include <chrono>
#include <cmath>

#include "cpu/exec/cpu_backend.hpp"
#include "opencl/backend.hpp"
#include "sched/executor.hpp"

namespace facert::opencl {
namespace {

std::vector<float> ramp(size_t n, float scale) {  // deterministic, sign-alternating weights
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * float(i) + 0.1f);
  return v;
}

// A fire module in miniature: stem conv, ceil-mode pool, squeeze, two expands into one concat, then the head.
graph::Graph probe_graph() {
  graph::Graph g;
  g.input = {"input", 3, 15, 15, "BGR", 1.0, {0, 0, 0}, {1, 1, 1}};
  g.output = {"fc", 8, true};
  g.tensors.push_back({"input", {}, -1});
  auto weight = [&](const std::string& name, std::vector<int64_t> shape, float scale) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    g.weights.push_back({name, shape, ramp(size_t(n), scale)});
    return int(g.weights.size()) - 1;
  };
  auto add = [&](graph::OpType type, const std::string& name, std::vector<int> inputs) -> graph::Op& {
    graph::Op op;
    op.type = type, op.name = name, op.inputs = std::move(inputs);
    g.tensors.push_back({name, {}, int(g.ops.size())});
    op.output = int(g.tensors.size()) - 1;
    g.ops.push_back(op);
    return g.ops.back();
  };
  auto conv = [&](const std::string& name, int in, int o, int c, int k, int stride, int pad, float scale) {
    graph::Op& op = add(graph::OpType::Conv2d, name, {in});
    op.weight = weight(name + ".w", {o, c, k, k}, scale);
    op.kernel = {k, k}, op.stride = {stride, stride}, op.pad = {pad, pad}, op.activation = graph::Activation::Relu;
    return op.output;
  };
  int t = conv("stem", 0, 8, 3, 3, 2, 0, 0.2f);
  g.ops.back().bias = weight("stem.b", {8}, 0.1f);
  graph::Op& pool = add(graph::OpType::MaxPool2d, "pool", {t});
  pool.kernel = {3, 3}, pool.stride = {2, 2}, pool.ceil_mode = true;
  const int sq = conv("squeeze", pool.output, 4, 8, 1, 1, 0, 0.3f);
  const int e1 = conv("e1", sq, 8, 4, 1, 1, 0, 0.3f), e3 = conv("e3", sq, 8, 4, 3, 1, 1, 0.1f);
  t = add(graph::OpType::Concat, "fire", {e1, e3}).output;
  t = add(graph::OpType::GlobalAvgPool, "gap", {t}).output;
  graph::Op& fc = add(graph::OpType::Linear, "fc", {t});
  fc.weight = weight("fc.w", {8, 16}, 0.2f);
  const Status st = graph::infer_shapes(&g);
  if (!st.is_ok()) throw Error(ErrorKind::Runtime, "probe graph: " + st.message());
  return g;
}

}  // namespace

ProbeResult probe_device(const DeviceInfo& device, const RuntimeOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  auto runtime = std::make_shared<Runtime>(device, options);
  auto backend = Backend::on_runtime(runtime);
  const graph::Graph g = probe_graph();
  std::vector<std::unique_ptr<sched::Execution>> execs;
  std::vector<sched::Execution*> ptrs;
  for (size_t i = 0; i < g.ops.size(); ++i) execs.push_back(backend->prepare(g, int(i))), ptrs.push_back(execs.back().get());
  const sched::Layout layouts[sched::kDevices] = {sched::cpu_layout(), backend->layout()};
  cpu::CpuBackend host(1, cpu::Isa::Ref);  // the host side: where the output is read back to
  sched::Backend* backends[sched::kDevices] = {&host, backend.get()};
  sched::Executor run(g, sched::make_plan(g, std::vector<sched::Device>(g.ops.size(), sched::Device::Gpu), layouts),
                      backends, ptrs);
  const auto input = ramp(3 * 15 * 15, 1.0f);
  ProbeResult result;
  result.output.resize(8);
  run.run(input.data(), 1, result.output.data());  // warm-up: every kernel launched once, then the binary saved
  backend->save_caches();
  result.create_ms = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  run.run(input.data(), 1, result.output.data());
  result.forward_ms = ms_since(t1);
  double s = 0;
  for (float v : result.output) s += double(v) * v;
  for (float& v : result.output) v = float(v / std::max(std::sqrt(s), 1e-12));
  result.stats = runtime->stats();
  return result;
}

}  // namespace facert::opencl
