// A whole network on one OpenCL device. Built op by op in topological order (ids are tensors, 0 = the
// input), then finalize() aliases concat inputs into their channel slice, plans buffers by tensor lifetime,
// and warms up once (tuning work-group sizes and saving the program binary). forward() copies the input in
// and the (N, D) output back: those are the only host-device transfers.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "opencl/runtime.hpp"

namespace facert::opencl {

class Network {
 public:
  // input: (in_c, in_h, in_w) per image, NCHW float at the API.
  Network(std::shared_ptr<Runtime> runtime, int in_c, int in_h, int in_w);

  int input() const { return 0; }
  // act: 0 none, 1 relu, 2 relu6. weight (O, C, kh, kw); bias (O) or null. Copies what it needs.
  int conv2d(int in, int out_c, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups,
             int act, const float* weight, const float* bias);
  int maxpool2d(int in, int k, int s, int p, bool ceil_mode);
  int concat(const std::vector<int>& inputs);
  int global_avgpool(int in);
  int linear(int in, int out_features, const float* weight, const float* bias, int act);

  void finalize(int output);
  // in: (n, C, H, W) float; out: (n, D) float. Thread-safe (one forward at a time per network).
  void forward(const float* in, int n, float* out, bool l2_normalize);

  int output_dim() const;
  Runtime& runtime() { return *runtime_; }

 private:
  enum class Kind { Input, Conv, MaxPool, Concat, AvgPool, Linear };
  struct Tensor {
    int c = 0, h = 1, w = 1;
    bool flat = false;  // (c) float per image; else NC4HW4 in the storage type
    int producer = -1, last_use = -1;
    int alias_of = -1, block_offset = 0;  // concat input: lives in alias_of's buffer at block_offset
    int slot = -1;
  };
  struct Op {
    Op(Kind k, std::vector<int> in) : kind(k), inputs(std::move(in)) {}
    Kind kind;
    std::vector<int> inputs;
    int output = -1;
    int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, act = 0;
    Buffer weight, bias;
  };

  int add_tensor(const Tensor& t, int producer);
  void require(int tensor) const;
  void alias_concats();
  void plan_slots();
  void ensure_capacity(int n);
  const Buffer& storage(int tensor) const;
  size_t tensor_bytes(const Tensor& t) const;
  void run_op(const Op& op, int n, bool l2_fused);

  std::shared_ptr<Runtime> runtime_;
  std::vector<Tensor> tensors_;
  std::vector<Op> ops_;
  int output_ = -1;
  bool finalized_ = false;
  std::vector<size_t> slot_bytes_;  // per image
  std::vector<Buffer> slots_;
  Buffer staging_in_;
  int capacity_ = 0;
  std::mutex mutex_;
};

}  // namespace facert::opencl
