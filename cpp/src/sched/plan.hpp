// The execution plan of a graph on the CPU: op order, where every activation lives in ONE arena
// (offsets from tensor lifetimes, greedy first fit), and concat made free by aliasing: each
// concat input whose only consumer-of-record is that concat lives inside the concat output's
// channel slice, so its producer writes there directly. The OpenCL backend and a heterogeneous
// placement will add devices here; per-image shapes, so one arena serves any batch (image by image).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace facert::sched {

constexpr int64_t kArenaAlignFloats = 16;  // 64-byte aligned buffer starts (AVX-512-safe)

struct Plan {
  std::vector<int> order;                 // op indices, execution order
  std::vector<int64_t> tensor_offset;     // floats from the arena start, per tensor
  std::vector<int> alias_of;              // concat output a tensor lives inside, or -1
  std::vector<std::vector<bool>> concat_copies;  // per op, per input: true where concat must copy
  std::vector<int> first_use, last_use;   // per tensor lifetime in op steps (-1: before the first op)
  int64_t arena_floats = 0;               // one arena, one image
  int64_t unshared_floats = 0;            // sum of all activations: what no reuse would cost

  // Human-readable table: op, type, output shape, arena offset, bytes; then the arena totals.
  std::string describe(const graph::Graph& g) const;
};

Plan make_cpu_plan(const graph::Graph& g);

}  // namespace facert::sched
