// The network as an immutable graph: ops in topological order over named activation tensors, with
// per-image shapes (no batch axis), weights widened to fp32, and params / MACs per op.
// Built by the loader (model/), validated here (shape inference: every shape rule lives here, no backend
// infers shapes again), consumed by plans (sched/) and the backends' executions.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/status.hpp"

namespace facert::graph {

enum class OpType { Conv2d, MaxPool2d, Concat, GlobalAvgPool, Linear, PRelu, Softmax };
const char* op_type_name(OpType t);  // the sq.bin spelling: "conv2d", ...

enum class Activation { None, Relu, Relu6 };
const char* activation_name(Activation a);

// Limits from docs/format.md "Loader checks".
constexpr int64_t kMaxActivationElements = int64_t(1) << 28;       // one tensor, or one op's scratch
constexpr int64_t kMaxTotalActivationElements = int64_t(1) << 30;  // all tensors of a graph together
constexpr int kMaxInputSide = 4096;

struct Weight {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // fp32 (F16 files are widened at load)
};

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;  // per image: (C, H, W) or (C); filled by shape inference
  int producer = -1;           // op index; -1: the graph input
};

struct Op {
  OpType type = OpType::Conv2d;
  std::string name;
  std::vector<int> inputs;  // tensor ids
  int output = -1;          // tensor id
  // conv2d, linear; prelu (weight: one slope per channel)
  int weight = -1, bias = -1;  // weight ids; bias -1: none
  Activation activation = Activation::None;
  // conv2d, maxpool2d: [h, w] pairs
  std::array<int, 2> kernel{1, 1}, stride{1, 1}, pad{0, 0}, dilation{1, 1};
  int groups = 1;
  bool ceil_mode = false;  // maxpool2d
  // filled by shape inference
  int64_t params = 0;
  int64_t macs = 0;  // multiply-accumulates per image
};

struct InputSpec {
  std::string name;
  int channels = 3, height = 0, width = 0;
  std::string channel_order;  // "RGB" | "BGR"
  double scale = 1.0;
  std::array<double, 3> mean{0, 0, 0}, std{1, 1, 1};
};

struct OutputSpec {
  std::string name;
  int dim = 0;
  bool l2_normalize = true;
};

struct Graph {
  std::string arch;
  InputSpec input;
  OutputSpec output;
  std::vector<Op> ops;          // topological order
  std::vector<Tensor> tensors;  // tensor 0 is the input
  std::vector<Weight> weights;
  int input_tensor = 0;
  int output_tensor = -1;

  int64_t total_params() const;
  int64_t total_macs() const;
};

// Shape inference and every structural check (attributes in range, weights of the right shape,
// channels and spatial sizes that agree, absurd sizes). Fills Tensor::shape, Op::params/macs and
// output_tensor. Errors are ModelError-kind Statuses naming the op.
Status infer_shapes(Graph* g);

// The shape rules, stated once for every backend: PyTorch's conv output size (0: the kernel does not fit) and
// pooling output size (ceil mode drops a window that would start in the right padding).
int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t dilation);
int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode);

std::string shape_string(const std::vector<int64_t>& shape);  // "(64, 55, 55)"
int64_t elements(const std::vector<int64_t>& shape);       // product of the dimensions

}  // namespace facert::graph
