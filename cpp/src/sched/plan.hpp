// A device-aware execution plan of a graph: every op has a device; a tensor needed on the other device gets an
// explicit transfer step (upload CPU -> OpenCL, download OpenCL -> CPU, the layout conversion included); one
// memory planner gives every tensor an offset in its device's arena from tensor lifetimes, with per-device byte
// sizes (Layout), and makes concat free by aliasing: an input whose only concat slot is that concat lives inside
// the concat output's channel slice, so its producer — or the transfer bringing it over — writes there directly.
// Offsets are per image; an arena for `capacity` images puts root r at offset(r) * capacity, image i at
// + i * bytes(r), so one plan serves any batch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "sched/backend.hpp"

namespace facert::sched {

struct PlanTensor {
  int tensor = -1;  // graph tensor
  Device device = Device::Cpu;
  int64_t bytes = 0;        // one image in the device's layout
  int alias_of = -1;        // plan tensor (a concat output) this one lives inside, or -1 (a root)
  int64_t slice_bytes = 0;  // offset inside one image of the root (aliases)
  int64_t offset = -1;      // roots: per-image offset in the device's arena; -1: not in an arena (graph input)
  int first = -1, last = -1;  // lifetime in steps (-1: before the first step)
};

enum class StepKind { Op, Upload, Download };

struct Step {
  StepKind kind = StepKind::Op;
  Device device = Device::Cpu;  // where it runs (transfers: the OpenCL side)
  int op = -1;                  // graph op (Op steps)
  std::vector<int> inputs;      // plan tensors: the op's inputs in order, or the transfer's source
  int output = -1;              // plan tensor
  std::vector<bool> concat_copies;  // concat: per input, true where it was not written in place
};

struct Plan {
  std::vector<Device> placement;  // per graph op
  std::vector<PlanTensor> tensors;
  std::vector<Step> steps;  // execution order: a topological order that enqueues OpenCL work first
  std::vector<std::vector<int>> tensor_on;  // [device][graph tensor] -> plan tensor, or -1
  int input = -1, output = -1;              // plan tensors of the graph input and output (both CPU)
  int64_t arena_bytes[kDevices] = {0, 0};   // per image
  int64_t unshared_bytes[kDevices] = {0, 0};
  int64_t staging_bytes = 0;                // per image: the largest NCHW float transfer through OpenCL
  bool uses(Device d) const;
  int transfers() const;

  // Table for people: step, op (or transfer), device, layout, output, offset, KiB, predicted and measured
  // ms where given (per step; empty: not shown), then the arenas.
  std::string describe(const graph::Graph& g, const Layout* layouts, const std::vector<double>& predicted_ms = {},
                       const std::vector<double>& measured_ms = {}) const;
};

// layouts: indexed by Device. placement: per graph op. The caller checked that each op's backend supports it.
Plan make_plan(const graph::Graph& g, const std::vector<Device>& placement, const Layout* layouts);

}  // namespace facert::sched
