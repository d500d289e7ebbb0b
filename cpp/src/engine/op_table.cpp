#include "engine/op_table.hpp"

#include <stdexcept>

#include "cpu/exec/ops.hpp"
#include "opencl/exec/ops.hpp"

namespace facert::engine {

namespace {

// Sorted by OpType.
const OpEntry kOps[] = {
    {graph::OpType::Conv2d, cpu::make_conv2d, opencl::make_conv2d, opencl::check_conv2d},
    {graph::OpType::MaxPool2d, cpu::make_maxpool2d, opencl::make_maxpool2d, opencl::check_maxpool2d},
    {graph::OpType::Concat, cpu::make_concat, opencl::make_concat, opencl::check_concat},
    {graph::OpType::GlobalAvgPool, cpu::make_global_avgpool, opencl::make_global_avgpool,
     opencl::check_global_avgpool},
    {graph::OpType::Linear, cpu::make_linear, opencl::make_linear, opencl::check_linear},
    {graph::OpType::PRelu, cpu::make_prelu, opencl::make_prelu, opencl::check_prelu},
    {graph::OpType::Softmax, cpu::make_softmax, opencl::make_softmax, opencl::check_softmax},
};

}  // namespace

const OpEntry& op_entry(graph::OpType type) {
  for (const OpEntry& e : kOps)
    if (e.type == type) return e;
  throw std::logic_error(std::string("op '") + graph::op_type_name(type) + "' has no row in engine/op_table.cpp");
}

}  // namespace facert::engine
