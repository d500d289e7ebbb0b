// CPU executions, one file per op (cpu/exec/<op>.cpp), wrapping the kernels of cpu/kernels.hpp. Tensors are
// NCHW float; a View's image_stride lets an output be a channel slice of a concat output.
#pragma once
#include <memory>

#include "cpu/kernels.hpp"
#include "graph/graph.hpp"
#include "sched/backend.hpp"

namespace facert::cpu {

struct ExecContext {
  ThreadPool* pool = nullptr;
  Isa isa = Isa::Ref;
};

Activation to_cpu(graph::Activation a);
inline float* at(const sched::View& v, int i) {
  return reinterpret_cast<float*>(static_cast<char*>(v.host) + i * v.image_stride);
}

std::unique_ptr<sched::Execution> make_conv2d(const ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_maxpool2d(const ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_concat(const ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_global_avgpool(const ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_linear(const ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_prelu(const ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_softmax(const ExecContext&, const graph::Graph&, const graph::Op&);

}  // namespace facert::cpu
