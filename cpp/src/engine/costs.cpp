#include "engine/costs.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "engine/op_table.hpp"
#include "model/model_file.hpp"
#include "sched/executor.hpp"
#include "sched/placement.hpp"

namespace facert::engine {

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

namespace {

constexpr int kRuns = 5;

// ms per step of a plan: each step timed alone (mean over kRuns after one warm run), then scaled so the steps
// add up to the plan's median end-to-end time: timing a step alone adds a queue drain and a thread-pool wake-up
// to each, which would otherwise inflate small ops several times over.
std::vector<double> time_steps(const CostRequest& r, const std::vector<sched::Device>& place, sched::Plan* plan_out) {
  const auto& g = *r.graph;
  std::vector<sched::Execution*> ex;
  for (size_t i = 0; i < place.size(); ++i) ex.push_back(r.executions[int(place[i])][i]);
  sched::Executor run(g, sched::make_plan(g, place, r.layouts), r.backends, ex);
  const auto& in = g.tensors[g.input_tensor].shape;
  std::vector<float> x(size_t(in[0] * in[1] * in[2]), 0.5f), out(size_t(g.tensors[g.output_tensor].shape[0]));
  std::vector<double> ms;
  run.run(x.data(), 1, out.data(), &ms);
  ms.clear();
  for (int k = 0; k < kRuns; ++k) run.run(x.data(), 1, out.data(), &ms);
  double sum = 0;
  for (double& v : ms) v /= kRuns, sum += v;
  std::vector<double> whole;
  for (int k = 0; k < kRuns; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    run.run(x.data(), 1, out.data());
    whole.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(whole.begin(), whole.begin() + kRuns / 2, whole.end());
  if (sum > 0)
    for (double& v : ms) v *= whole[kRuns / 2] / sum;
  *plan_out = run.plan();
  return ms;
}

std::string cache_path(const CostRequest& r) {
  if (r.cache_dir.empty()) return "";
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.json",
                static_cast<unsigned long long>(fnv1a(r.key.data(), r.key.size())));
  return r.cache_dir + "/costs/" + name;
}

}  // namespace

sched::CostModel measured_costs(const CostRequest& r) {
  const auto& g = *r.graph;
  const size_t n = g.ops.size();
  const std::string path = cache_path(r);
  if (!path.empty()) {
    std::ifstream f(path);
    std::stringstream text;
    text << f.rdbuf();
    if (f) {
      auto cached = sched::cost_from_json(text.str(), n);
      if (cached) {
        cached.value().source = "measured (cached " + path + ")";
        return cached.value();
      }
    }
  }
  sched::CostModel c;
  c.source = "measured";
  std::vector<std::pair<int64_t, double>> up, down;
  auto collect = [&](const sched::Plan& p, const std::vector<double>& ms, int device) {
    for (size_t s = 0; s < p.steps.size(); ++s) {
      const auto& st = p.steps[s];
      const auto& shape = g.tensors[p.tensors[st.output].tensor].shape;
      int64_t bytes = 4;
      for (int64_t d : shape) bytes *= d;
      if (st.kind == sched::StepKind::Op && device >= 0 && int(st.device) == device) c.op_ms[device][st.op] = ms[s];
      if (st.kind == sched::StepKind::Upload) up.emplace_back(bytes, ms[s]);
      if (st.kind == sched::StepKind::Download) down.emplace_back(bytes, ms[s]);
    }
  };
  for (int d = 0; d < sched::kDevices; ++d) c.op_ms[d].assign(n, -1.0);
  sched::Plan plan;
  std::vector<sched::Device> place(n, sched::Device::Cpu);
  collect(plan, time_steps(r, place, &plan), 0);
  bool any_gpu = false;
  for (size_t i = 0; i < n; ++i)
    if (r.executions[1][i]) place[i] = sched::Device::Gpu, any_gpu = true;
  if (any_gpu) {
    collect(plan, time_steps(r, place, &plan), 1);
    for (size_t i = 0, k = 0; i < n; ++i)  // alternating: transfers of many sizes both ways
      if (r.executions[1][i]) place[i] = sched::Device(k++ % 2);
    collect(plan, time_steps(r, place, &plan), -1);
  }
  c.upload = sched::fit_transfer(up);
  c.download = sched::fit_transfer(down);
  if (!path.empty()) {  // best effort: a cache that cannot be written is only a miss next time
    ::mkdir(r.cache_dir.c_str(), 0755);
    ::mkdir((r.cache_dir + "/costs").c_str(), 0755);
    const std::string tmp = path + ".tmp";
    std::ofstream f(tmp);
    f << sched::cost_to_json(c);
    f.close();
    if (f) std::rename(tmp.c_str(), path.c_str());
  }
  return c;
}

Result<PaperPlan> plan_from_profile(const std::string& model_path, const std::string& profile_json,
                                    const std::string& precision) {
  if (precision != "fp32" && precision != "fp16")
    return Status::argument("precision must be 'fp32' or 'fp16', got '" + precision + "'");
  auto model = model::load_model_file(model_path);
  if (!model) return model.status();
  const graph::Graph& g = model.value().graph;
  auto costs = sched::cost_from_profile(g, profile_json);
  if (!costs) return costs.status();
  const sched::Layout layouts[sched::kDevices] = {sched::cpu_layout(), sched::gpu_layout(precision == "fp16" ? 2 : 4)};
  // Ops the OpenCL backend cannot run (a grouped conv that is not depthwise) stay on the CPU on paper too.
  std::vector<int> pinned(g.ops.size(), -1);
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (!op_entry(g.ops[i].type).gpu_check(g, g.ops[i]).empty()) pinned[i] = int(sched::Device::Cpu);
  PaperPlan out;
  out.source = costs.value().source;
  out.schedule = sched::schedule(g, costs.value(), layouts, pinned);
  const sched::Plan plan = sched::make_plan(g, out.schedule.best().placement, layouts);
  std::vector<double> step_ms;
  sched::predict_ms(plan, g, costs.value(), &step_ms);
  out.text = plan.describe(g, layouts, step_ms);
  return out;
}

}  // namespace facert::engine
