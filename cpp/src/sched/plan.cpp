#include "sched/plan.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace facert::sched {

namespace {

int64_t elements(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int64_t align_up(int64_t v) { return (v + kArenaAlignFloats - 1) / kArenaAlignFloats * kArenaAlignFloats; }

// Decide which concat inputs live inside their concat's output. A tensor qualifies when it is not
// the graph input and it appears in exactly one concat slot in the whole graph (else two outputs
// would claim it): then its producer can write straight into that slot.
void assign_aliases(const graph::Graph& g, Plan* p, std::vector<int64_t>* alias_offset) {
  const size_t nt = g.tensors.size();
  std::vector<int> concat_slots(nt, 0);
  for (const auto& op : g.ops)
    if (op.type == graph::OpType::Concat)
      for (int t : op.inputs) ++concat_slots[t];
  p->alias_of.assign(nt, -1);
  alias_offset->assign(nt, 0);
  p->concat_copies.assign(g.ops.size(), {});
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const auto& op = g.ops[i];
    if (op.type != graph::OpType::Concat) continue;
    const auto& out_shape = g.tensors[op.output].shape;
    const int64_t plane = out_shape[1] * out_shape[2];
    int64_t channel = 0;
    for (int t : op.inputs) {
      const bool alias = t != g.input_tensor && concat_slots[t] == 1 && t != g.output_tensor;
      p->concat_copies[i].push_back(!alias);
      if (alias) {
        p->alias_of[t] = op.output;
        (*alias_offset)[t] = channel * plane;
      }
      channel += g.tensors[t].shape[0];
    }
  }
}

}  // namespace

Plan make_cpu_plan(const graph::Graph& g) {
  Plan p;
  const int nops = int(g.ops.size());
  const size_t nt = g.tensors.size();
  for (int i = 0; i < nops; ++i) p.order.push_back(i);  // the file's topological order

  std::vector<int64_t> alias_offset;
  assign_aliases(g, &p, &alias_offset);
  auto root_of = [&](int t, int64_t* offset) {
    *offset = 0;
    while (p.alias_of[t] >= 0) {
      *offset += alias_offset[t];
      t = p.alias_of[t];
    }
    return t;
  };

  // Lifetimes per tensor in op steps, then per root buffer (the union over everything aliased into it).
  p.first_use.assign(nt, 0);
  p.last_use.assign(nt, 0);
  for (size_t t = 0; t < nt; ++t) {
    p.first_use[t] = g.tensors[t].producer;  // -1 for the graph input
    p.last_use[t] = g.tensors[t].producer;
  }
  for (int step = 0; step < nops; ++step)
    for (int t : g.ops[p.order[step]].inputs) p.last_use[t] = std::max(p.last_use[t], step);
  if (g.output_tensor >= 0) p.last_use[g.output_tensor] = nops;  // read out after the last op

  std::vector<int> root_first(nt, nops + 1), root_last(nt, -2);
  for (size_t t = 0; t < nt; ++t) {
    int64_t off;
    const int r = root_of(int(t), &off);
    root_first[r] = std::min(root_first[r], p.first_use[t]);
    root_last[r] = std::max(root_last[r], p.last_use[t]);
    p.unshared_floats += elements(g.tensors[t].shape);
  }

  // Greedy by size: each root buffer goes to the lowest aligned offset not overlapping any placed
  // buffer whose lifetime intersects its own.
  std::vector<int> roots;
  for (size_t t = 0; t < nt; ++t)
    if (p.alias_of[t] < 0) roots.push_back(int(t));
  std::stable_sort(roots.begin(), roots.end(), [&](int a, int b) {
    return elements(g.tensors[a].shape) > elements(g.tensors[b].shape);
  });
  std::vector<int64_t> root_offset(nt, -1);
  std::vector<int> placed;
  for (int r : roots) {
    const int64_t size = align_up(elements(g.tensors[r].shape));
    std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of live neighbours
    for (int q : placed)
      if (root_first[q] <= root_last[r] && root_first[r] <= root_last[q])
        busy.emplace_back(root_offset[q], root_offset[q] + align_up(elements(g.tensors[q].shape)));
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    for (const auto& b : busy) {
      if (at + size <= b.first) break;
      at = std::max(at, b.second);
    }
    root_offset[r] = at;
    placed.push_back(r);
    p.arena_floats = std::max(p.arena_floats, at + size);
  }
  p.tensor_offset.assign(nt, 0);
  for (size_t t = 0; t < nt; ++t) {
    int64_t off;
    const int r = root_of(int(t), &off);
    p.tensor_offset[t] = root_offset[r] + off;
  }
  return p;
}

std::string Plan::describe(const graph::Graph& g) const {
  std::ostringstream s;
  char line[256];
  std::snprintf(line, sizeof line, "%-4s %-28s %-15s %-18s %12s %10s  %s\n", "#", "op", "type", "output",
                "arena_off", "KiB", "device");
  s << line;
  for (size_t step = 0; step < order.size(); ++step) {
    const auto& op = g.ops[order[step]];
    const int t = op.output;
    std::string note = "cpu";
    if (alias_of[t] >= 0) note += "  (writes into " + g.tensors[alias_of[t]].name + ")";
    if (op.type == graph::OpType::Concat) {
      int copies = 0;
      for (bool c : concat_copies[order[step]]) copies += c;
      note += copies ? "  (copies " + std::to_string(copies) + " input(s))" : "  (free: inputs aliased)";
    }
    std::snprintf(line, sizeof line, "%-4zu %-28.28s %-15s %-18s %12lld %10.1f  %s\n", step, op.name.c_str(),
                  graph::op_type_name(op.type), graph::shape_string(g.tensors[t].shape).c_str(),
                  static_cast<long long>(tensor_offset[t] * 4),
                  double(elements(g.tensors[t].shape)) * 4 / 1024, note.c_str());
    s << line;
  }
  std::snprintf(line, sizeof line, "arena: %.1f KiB per image in flight (without reuse: %.1f KiB)\n",
                double(arena_floats) * 4 / 1024, double(unshared_floats) * 4 / 1024);
  s << line;
  return s.str();
}

}  // namespace facert::sched
