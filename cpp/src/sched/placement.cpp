#include "sched/placement.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace facert::sched {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr uint8_t kOn[kDevices] = {1, 2};

double op_cost(const DpProblem& p, size_t i, Device d) {
  const double ms = p.op_ms[int(d)][i];
  return ms < 0 ? kInf : ms;
}

double move_cost(const DpProblem& p, int t, Device to) {
  return to == Device::Gpu ? p.up_ms[t] : p.down_ms[t];
}

using graph::elements;

}  // namespace

double additive_cost(const DpProblem& p, const std::vector<Device>& place) {
  std::vector<uint8_t> home(p.tensors, kOn[0]), need(p.tensors, 0);
  double cost = 0;
  for (size_t i = 0; i < p.op_inputs.size(); ++i) {
    cost += op_cost(p, i, place[i]);
    home[p.op_output[i]] = kOn[int(place[i])];
    for (int t : p.op_inputs[i]) need[t] |= kOn[int(place[i])];
  }
  need[p.output] |= kOn[0];
  for (int t = 0; t < p.tensors; ++t)
    for (int d = 0; d < kDevices; ++d)
      if ((need[t] & kOn[d]) && !(home[t] & kOn[d])) cost += move_cost(p, t, Device(d));
  return cost;
}

DpResult solve_dp(const DpProblem& p) {
  const size_t n = p.op_inputs.size();
  std::vector<int> last(p.tensors, -1);  // last op reading each tensor
  for (size_t i = 0; i < n; ++i)
    for (int t : p.op_inputs[i]) last[t] = std::max(last[t], int(i));
  // State before op i: the live tensors (sorted ids) and the devices holding each.
  struct Node {
    double cost;
    int parent;
    Device device;
  };
  std::vector<int> live = {p.input};
  std::map<std::vector<uint8_t>, int> states = {{{kOn[0]}, 0}};
  std::vector<std::vector<Node>> layers = {{{0.0, -1, Device::Cpu}}};
  std::vector<std::vector<std::vector<uint8_t>>> keys = {{{kOn[0]}}};
  for (size_t i = 0; i < n; ++i) {
    std::vector<int> next_live;
    for (int t : live)
      if (last[t] > int(i) || t == p.output) next_live.push_back(t);
    next_live.push_back(p.op_output[i]);
    std::sort(next_live.begin(), next_live.end());
    next_live.erase(std::unique(next_live.begin(), next_live.end()), next_live.end());
    std::map<std::vector<uint8_t>, int> next_states;
    std::vector<Node> layer;
    std::vector<std::vector<uint8_t>> layer_keys;
    for (const auto& [key, idx] : states) {
      const double base = layers[i][idx].cost;
      for (int d = 0; d < kDevices; ++d) {
        double cost = base + op_cost(p, i, Device(d));
        if (cost == kInf) continue;
        std::vector<uint8_t> masks = key;
        for (int t : p.op_inputs[i]) {
          const size_t at = size_t(std::lower_bound(live.begin(), live.end(), t) - live.begin());
          if (!(masks[at] & kOn[d])) cost += move_cost(p, t, Device(d)), masks[at] |= kOn[d];
        }
        std::vector<uint8_t> out;
        for (int t : next_live) {
          if (t == p.op_output[i]) {
            out.push_back(kOn[d]);
          } else {
            out.push_back(masks[size_t(std::lower_bound(live.begin(), live.end(), t) - live.begin())]);
          }
        }
        auto it = next_states.find(out);
        if (it == next_states.end()) {
          next_states[out] = int(layer.size());
          layer.push_back({cost, idx, Device(d)});
          layer_keys.push_back(out);
        } else if (cost < layer[it->second].cost) {
          layer[it->second] = {cost, idx, Device(d)};
        }
      }
    }
    live = next_live;
    states = std::move(next_states);
    layers.push_back(std::move(layer));
    keys.push_back(std::move(layer_keys));
  }
  // the output must end on the CPU
  const size_t at = size_t(std::lower_bound(live.begin(), live.end(), p.output) - live.begin());
  int best = -1;
  double best_cost = kInf;
  for (size_t s = 0; s < layers[n].size(); ++s) {
    const double cost = layers[n][s].cost + ((keys[n][s][at] & kOn[0]) ? 0.0 : p.down_ms[p.output]);
    if (cost < best_cost) best_cost = cost, best = int(s);
  }
  DpResult r;
  r.cost = best_cost;
  r.placement.assign(n, Device::Cpu);
  for (size_t i = n; i > 0 && best >= 0; --i) {
    r.placement[i - 1] = layers[i][best].device;
    best = layers[i][best].parent;
  }
  return r;
}

DpProblem dp_problem(const graph::Graph& g, const CostModel& c) {
  DpProblem p;
  p.tensors = int(g.tensors.size());
  p.input = g.input_tensor;
  p.output = g.output_tensor;
  for (const auto& op : g.ops) p.op_inputs.push_back(op.inputs), p.op_output.push_back(op.output);
  for (int d = 0; d < kDevices; ++d) p.op_ms[d] = c.op_ms[d];
  for (const auto& t : g.tensors) {
    const int64_t bytes = elements(t.shape) * int64_t(sizeof(float));
    p.up_ms.push_back(c.upload.ms(bytes));
    p.down_ms.push_back(c.download.ms(bytes));
  }
  return p;
}

Schedule schedule(const graph::Graph& g, const CostModel& c, const Layout* layouts, const std::vector<int>& pinned) {
  const size_t n = g.ops.size();
  CostModel allowed = c;  // pins become "not allowed on the other device"
  for (size_t i = 0; i < n; ++i)
    if (pinned[i] >= 0) allowed.op_ms[1 - pinned[i]][i] = -1;
  auto rate = [&](const std::vector<Device>& place) {
    for (size_t i = 0; i < n; ++i)
      if (allowed.op_ms[int(place[i])][i] < 0) return kInf;
    return predict_ms(make_plan(g, place, layouts), g, c);
  };
  Schedule s;
  for (int d = 0; d < kDevices; ++d) {
    Family f{device_name(Device(d)), std::vector<Device>(n, Device(d)), 0, true};
    f.ms = rate(f.placement);
    f.available = f.ms < kInf;
    s.families.push_back(f);
  }
  const DpResult dp = solve_dp(dp_problem(g, allowed));
  s.families.push_back({"per-op", dp.placement, rate(dp.placement), dp.cost < kInf});
  // (c) greedy fire splits on top of the best so far: each concat of two convs, both orientations, the concat
  // on either device; kept when the predicted latency (with the branches overlapping) drops.
  size_t base = 0;
  for (size_t f = 1; f < s.families.size(); ++f)
    if (s.families[f].ms < s.families[base].ms) base = f;
  Family split{"per-op+split", s.families[base].placement, s.families[base].ms, s.families[base].available};
  for (size_t i = 0; i < n; ++i) {
    const auto& op = g.ops[i];
    if (op.type != graph::OpType::Concat || op.inputs.size() != 2) continue;
    const int a = g.tensors[op.inputs[0]].producer, b = g.tensors[op.inputs[1]].producer;
    if (a < 0 || b < 0 || g.ops[a].type != graph::OpType::Conv2d || g.ops[b].type != graph::OpType::Conv2d) continue;
    for (int variant = 0; variant < 4; ++variant) {
      auto place = split.placement;
      place[a] = Device(variant & 1), place[b] = Device(1 - (variant & 1)), place[i] = Device(variant >> 1);
      const double ms = rate(place);
      if (ms < split.ms) split.placement = place, split.ms = ms;
    }
  }
  s.families.push_back(split);
  s.chosen = 0;
  for (size_t f = 1; f < s.families.size(); ++f)
    if (s.families[f].ms < s.families[s.chosen].ms) s.chosen = f;
  // (d) whole frames shared out in proportion to each device's throughput (single-device plans)
  const double cpu = s.families[0].ms, gpu = s.families[1].ms;
  Family frames{"frames in flight", {}, 0, s.families[0].available && s.families[1].available};
  frames.ms = frames.available ? 1.0 / (1.0 / cpu + 1.0 / gpu) : (s.families[0].available ? cpu : gpu);
  s.families.push_back(frames);
  return s;
}

}  // namespace facert::sched
