// Placement: which device runs each op. The plan families the scheduler weighs:
//   (a) the whole network on one device;
//   (b) per-op placement by dynamic programming over the topological order with transfer edges;
//   (c) fire modules' expand pairs split across the devices (greedy, on top of the best of (a) and (b));
//   (d) frames in flight on both devices for batches and streams (throughput, reported beside latency).
// The chosen latency plan is the one predict_ms() rates fastest among (a)-(c), so it is never predicted slower
// than the best single device; the engine then measures the single-device plans and that one end to end and
// keeps the fastest measured (a cost model that misses contention — PoCL shares the CPU's cores — cannot
// then make the engine slower than one device).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.hpp"
#include "sched/cost.hpp"
#include "sched/plan.hpp"

namespace facert::sched {

// The DP's problem in plain numbers, so tests can state small graphs directly. Cost of a placement (the DP's
// objective, additive): the ops' times on their devices, plus one transfer per (tensor, device other than its
// producer's) that some op there reads, plus bringing the output to the CPU. The input starts on the CPU.
struct DpProblem {
  int tensors = 0, input = 0, output = 0;
  std::vector<std::vector<int>> op_inputs;  // per op, tensor ids (ops in topological order)
  std::vector<int> op_output;
  std::vector<double> op_ms[kDevices];     // negative: not allowed on that device
  std::vector<double> up_ms, down_ms;      // per tensor: CPU -> OpenCL, OpenCL -> CPU
};

struct DpResult {
  std::vector<Device> placement;
  double cost = 0;
};

// Exact for the additive cost: the state is, for every tensor still to be read, the devices holding it.
DpResult solve_dp(const DpProblem& p);
double additive_cost(const DpProblem& p, const std::vector<Device>& placement);
DpProblem dp_problem(const graph::Graph& g, const CostModel& c);

struct Family {
  std::string name;  // "cpu", "gpu", "per-op", "per-op+split", "frames in flight"
  std::vector<Device> placement;  // empty for "frames in flight"
  double ms = 0;                  // predicted latency per image (frames in flight: per frame, throughput)
  bool available = true;
  double measured_ms = -1;        // end-to-end, where the engine measured it (-1: not measured)
};

struct Schedule {
  std::vector<Family> families;
  size_t chosen = 0;  // index into families (a latency plan)
  const Family& best() const { return families[chosen]; }
};

// pinned: per op, -1 free, else the Device it must run on. layouts: per device (as make_plan takes them).
Schedule schedule(const graph::Graph& g, const CostModel& c, const Layout* layouts, const std::vector<int>& pinned);

}  // namespace facert::sched
