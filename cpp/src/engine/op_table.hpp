// The one op table: every op type once, with its execution on each backend. Adding an op (say PReLU) is:
//   graph/graph.{hpp,cpp}   the OpType, its shape rule (graph's kOpRules) and the loader's spelling (model/)
//   cpu/exec/<op>.cpp       the CPU execution (wrapping a cpu:: kernel, or a reference loop)
//   kernels/<op>.cl + opencl/exec/<op>.cpp   the OpenCL kernel and its execution (+ why it may decline)
//   one row below; the converter (facert/convert/) and tests.
// No scheduler, planner or executor code changes: they see ops only through this table and sched::Backend.
#pragma once
#include <memory>
#include <string>

#include "graph/graph.hpp"
#include "sched/backend.hpp"

namespace facert::cpu {
struct ExecContext;
}
namespace facert::opencl {
struct ExecContext;
}

namespace facert::engine {

using CpuFactory = std::unique_ptr<sched::Execution> (*)(const cpu::ExecContext&, const graph::Graph&,
                                                         const graph::Op&);
using GpuFactory = std::unique_ptr<sched::Execution> (*)(opencl::ExecContext&, const graph::Graph&,
                                                         const graph::Op&);
// Why the OpenCL execution cannot run this op ("" = it can).
using GpuCheck = std::string (*)(const graph::Graph&, const graph::Op&);

struct OpEntry {
  graph::OpType type;
  CpuFactory cpu;
  GpuFactory gpu;
  GpuCheck gpu_check;
};

const OpEntry& op_entry(graph::OpType type);

}  // namespace facert::engine
