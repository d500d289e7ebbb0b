#include "sched/plan.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace facert::sched {

namespace {

using graph::elements;

int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

int add_tensor(Plan& p, const graph::Graph& g, const Layout* layouts, int t, Device d) {
  PlanTensor pt;
  pt.tensor = t;
  pt.device = d;
  pt.bytes = layouts[int(d)].bytes(g.tensors[t].shape);
  p.tensors.push_back(pt);
  p.tensor_on[int(d)][t] = int(p.tensors.size()) - 1;
  return int(p.tensors.size()) - 1;
}

// Steps in a topological order that puts OpenCL work (kernels and transfers, all asynchronous) before CPU
// ops whenever both are ready, so the device computes while the host does: list scheduling over the step DAG.
std::vector<Step> order_steps(const std::vector<Step>& steps, size_t ntensors) {
  std::vector<int> producer(ntensors, -1);
  for (size_t s = 0; s < steps.size(); ++s) producer[steps[s].output] = int(s);
  std::vector<int> waiting(steps.size(), 0);
  std::vector<std::vector<int>> users(steps.size());
  for (size_t s = 0; s < steps.size(); ++s)
    for (int t : steps[s].inputs)
      if (producer[t] >= 0) ++waiting[s], users[producer[t]].push_back(int(s));
  std::vector<Step> out;
  std::vector<bool> done(steps.size(), false);
  while (out.size() < steps.size()) {
    int pick = -1;
    for (size_t s = 0; s < steps.size(); ++s) {
      if (done[s] || waiting[s]) continue;
      const bool async = steps[s].kind != StepKind::Op || steps[s].device == Device::Gpu;
      if (pick < 0 || (async && !(steps[pick].kind != StepKind::Op || steps[pick].device == Device::Gpu)))
        pick = int(s);
      if (async) break;
    }
    done[pick] = true;
    for (int u : users[pick]) --waiting[u];
    out.push_back(steps[pick]);
  }
  return out;
}

// Concat inputs that can live in their concat output's slice (see the header); the rest are copied.
void assign_aliases(const graph::Graph& g, const Layout* layouts, Plan& p) {
  std::vector<int> concat_slots(g.tensors.size(), 0);
  for (const auto& op : g.ops)
    if (op.type == graph::OpType::Concat)
      for (int t : op.inputs) ++concat_slots[t];
  std::vector<int> producer(p.tensors.size(), -1), op_readers(p.tensors.size(), 0);
  for (size_t s = 0; s < p.steps.size(); ++s) {
    producer[p.steps[s].output] = int(s);
    if (p.steps[s].kind == StepKind::Op)
      for (int t : p.steps[s].inputs) ++op_readers[t];
  }
  for (Step& step : p.steps) {
    if (step.kind != StepKind::Op || g.ops[step.op].type != graph::OpType::Concat) continue;
    const Layout& layout = layouts[int(step.device)];
    const auto& out_shape = g.tensors[g.ops[step.op].output].shape;
    int64_t channel = 0;
    step.concat_copies.clear();
    for (int pt : step.inputs) {
      const int t = p.tensors[pt].tensor;
      const int64_t slice = layout.slice_offset(out_shape, channel);
      const int ps = producer[pt];
      const bool writer = ps >= 0 && (p.steps[ps].kind != StepKind::Op ||
                                      layout.writes_slices(g.ops[p.steps[ps].op].type));
      const bool readable = layout.reads_slices || op_readers[pt] == 1;  // the concat is its only op reader
      const bool alias = t != g.input_tensor && t != g.output_tensor && concat_slots[t] == 1 && slice >= 0 &&
                         writer && readable;
      step.concat_copies.push_back(!alias);
      if (alias) {
        p.tensors[pt].alias_of = step.output;
        p.tensors[pt].slice_bytes = slice;
      }
      channel += g.tensors[t].shape[0];
    }
  }
}

int root_of(const Plan& p, int t, int64_t* slice) {
  *slice = 0;
  while (p.tensors[t].alias_of >= 0) *slice += p.tensors[t].slice_bytes, t = p.tensors[t].alias_of;
  return t;
}

// Lifetimes, then per device: roots sorted by size, each at the lowest aligned offset not overlapping a placed
// root whose lifetime intersects its own (greedy first fit).
void plan_memory(const graph::Graph& g, const Layout* layouts, Plan& p) {
  const int nsteps = int(p.steps.size());
  for (int s = 0; s < nsteps; ++s) {
    const Step& step = p.steps[s];
    p.tensors[step.output].first = s;
    p.tensors[step.output].last = std::max(p.tensors[step.output].last, s);
    for (int t : step.inputs) {
      p.tensors[t].last = std::max(p.tensors[t].last, s);
      // An upload reads host memory asynchronously: its source is never reused within the call.
      if (step.kind == StepKind::Upload) p.tensors[t].last = nsteps;
    }
  }
  p.tensors[p.output].last = nsteps;  // read out after the last step
  const size_t nt = p.tensors.size();
  std::vector<int> root_first(nt, nsteps + 1), root_last(nt, -2);
  for (size_t t = 0; t < nt; ++t) {
    int64_t slice;
    const int r = root_of(p, int(t), &slice);
    root_first[r] = std::min(root_first[r], p.tensors[t].first);
    root_last[r] = std::max(root_last[r], p.tensors[t].last);
    p.unshared_bytes[int(p.tensors[t].device)] += p.tensors[t].bytes;
  }
  for (int d = 0; d < kDevices; ++d) {
    const int64_t align = layouts[d].alignment;
    std::vector<int> roots;
    for (size_t t = 0; t < nt; ++t)
      if (p.tensors[t].alias_of < 0 && int(p.tensors[t].device) == d && int(t) != p.input) roots.push_back(int(t));
    std::stable_sort(roots.begin(), roots.end(), [&](int a, int b) { return p.tensors[a].bytes > p.tensors[b].bytes; });
    std::vector<int> placed;
    for (int r : roots) {
      const int64_t size = align_up(p.tensors[r].bytes, align);
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (int q : placed)
        if (root_first[q] <= root_last[r] && root_first[r] <= root_last[q])
          busy.emplace_back(p.tensors[q].offset, p.tensors[q].offset + align_up(p.tensors[q].bytes, align));
      std::sort(busy.begin(), busy.end());
      int64_t at = 0;
      for (const auto& b : busy) {
        if (at + size <= b.first) break;
        at = std::max(at, b.second);
      }
      p.tensors[r].offset = at;
      placed.push_back(r);
      p.arena_bytes[d] = std::max(p.arena_bytes[d], at + size);
    }
  }
  (void)g;
}

}  // namespace

bool Plan::uses(Device d) const {
  for (Device x : placement)
    if (x == d) return true;
  return false;
}

int Plan::transfers() const {
  int n = 0;
  for (const Step& s : steps) n += s.kind != StepKind::Op;
  return n;
}

Plan make_plan(const graph::Graph& g, const std::vector<Device>& placement, const Layout* layouts) {
  Plan p;
  p.placement = placement;
  p.tensor_on.assign(kDevices, std::vector<int>(g.tensors.size(), -1));
  p.input = add_tensor(p, g, layouts, g.input_tensor, Device::Cpu);
  std::vector<Step> steps;
  auto on = [&](int t, Device d) {  // the plan tensor of graph tensor t on d, adding a transfer if needed
    if (p.tensor_on[int(d)][t] >= 0) return p.tensor_on[int(d)][t];
    const Device home = d == Device::Cpu ? Device::Gpu : Device::Cpu;
    Step s;
    s.kind = d == Device::Gpu ? StepKind::Upload : StepKind::Download;
    s.device = Device::Gpu;
    s.inputs = {p.tensor_on[int(home)][t]};
    s.output = add_tensor(p, g, layouts, t, d);
    steps.push_back(s);
    p.staging_bytes = std::max(p.staging_bytes, elements(g.tensors[t].shape) * int64_t(sizeof(float)));
    return s.output;
  };
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const Device d = placement[i];
    Step s;
    s.kind = StepKind::Op;
    s.device = d;
    s.op = int(i);
    for (int t : g.ops[i].inputs) s.inputs.push_back(on(t, d));
    s.output = add_tensor(p, g, layouts, g.ops[i].output, d);
    steps.push_back(s);
  }
  p.output = on(g.output_tensor, Device::Cpu);
  p.steps = order_steps(steps, p.tensors.size());
  assign_aliases(g, layouts, p);
  plan_memory(g, layouts, p);
  return p;
}

std::string Plan::describe(const graph::Graph& g, const Layout* layouts, const std::vector<double>& predicted_ms,
                           const std::vector<double>& measured_ms) const {
  std::ostringstream s;
  char line[320];
  const bool pred = predicted_ms.size() == steps.size(), meas = measured_ms.size() == steps.size();
  std::snprintf(line, sizeof line, "%-4s %-26s %-14s %-6s %-12s %-16s %11s %9s", "#", "op", "type", "device",
                "layout", "output", "arena_off", "KiB");
  s << line << (pred ? "   pred_ms" : "") << (meas ? "   meas_ms" : "") << "  note\n";
  double total_pred = 0, total_meas = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    const PlanTensor& out = tensors[st.output];
    int64_t slice;
    const int root = root_of(*this, st.output, &slice);
    std::string name, type, note;
    if (st.kind == StepKind::Op) {
      name = g.ops[st.op].name;
      type = graph::op_type_name(g.ops[st.op].type);
    } else {
      name = (st.kind == StepKind::Upload ? "-> gpu " : "-> cpu ") + g.tensors[out.tensor].name;
      type = st.kind == StepKind::Upload ? "upload" : "download";
    }
    if (out.alias_of >= 0) note += "(writes into " + g.tensors[tensors[out.alias_of].tensor].name + ") ";
    if (!st.concat_copies.empty()) {
      int copies = 0;
      for (bool c : st.concat_copies) copies += c;
      note += copies ? "(copies " + std::to_string(copies) + " input(s))" : "(free: inputs aliased)";
    }
    std::snprintf(line, sizeof line, "%-4zu %-26.26s %-14s %-6s %-12.12s %-16s %11lld %9.1f", i, name.c_str(),
                  type.c_str(), device_name(st.device),
                  g.tensors[out.tensor].shape.size() == 3 ? layouts[int(out.device)].name.c_str() : "flat float",
                  graph::shape_string(g.tensors[out.tensor].shape).c_str(),
                  static_cast<long long>(tensors[root].offset + slice), double(out.bytes) / 1024);
    s << line;
    if (pred) std::snprintf(line, sizeof line, " %9.3f", predicted_ms[i]), s << line, total_pred += predicted_ms[i];
    if (meas) std::snprintf(line, sizeof line, " %9.3f", measured_ms[i]), s << line, total_meas += measured_ms[i];
    s << "  " << note << "\n";
  }
  for (int d = 0; d < kDevices; ++d)
    if (arena_bytes[d] || uses(Device(d))) {
      std::snprintf(line, sizeof line, "%s arena (%s): %.1f KiB per image in flight (without reuse: %.1f KiB)\n",
                    device_name(Device(d)), layouts[d].name.c_str(), double(arena_bytes[d]) / 1024,
                    double(unshared_bytes[d]) / 1024);
      s << line;
    }
  if (pred || meas) {
    s << "sum of steps:";
    if (pred) std::snprintf(line, sizeof line, " predicted %.3f ms", total_pred), s << line;
    if (meas) std::snprintf(line, sizeof line, " measured %.3f ms (each step timed alone)", total_meas), s << line;
    s << "\n";
  }
  return s.str();
}

}  // namespace facert::sched
