#include "opencl/exec/ops.hpp"
#include "opencl/weight_packing.hpp"

namespace facert::opencl {

BlockSlice block_slice(const sched::View& v, const std::vector<int64_t>& shape, size_t storage_bytes) {
  const int64_t block = shape[1] * shape[2] * 4 * int64_t(storage_bytes);
  return {int(v.offset / block), int(v.image_stride / block)};
}

int activation_code(graph::Activation a) {
  switch (a) {
    case graph::Activation::Relu: return 1;
    case graph::Activation::Relu6: return 2;
    default: return 0;
  }
}

namespace {

bool is_depthwise(const graph::Graph& g, const graph::Op& op) {
  const int64_t in_c = g.tensors[op.inputs[0]].shape[0], out_c = g.tensors[op.output].shape[0];
  return op.groups > 1 && op.groups == in_c && op.groups == out_c;
}

// kernels/conv2d.cl: conv2d_depthwise for groups = in = out channels, conv2d_1x1 for pointwise stride-1 convs,
// conv2d for the rest; the output may be a slice.
class Conv2dExec : public sched::Execution {
 public:
  Conv2dExec(ExecContext& ctx, const graph::Graph& g, const graph::Op& op)
      : ctx_(ctx), op_(op), in_(g.tensors[op.inputs[0]].shape), out_(g.tensors[op.output].shape) {
    const bool half = ctx.rt->precision() == Precision::Fp16;
    const float* w = g.weights[op.weight].data.data();
    depthwise_ = is_depthwise(g, op);
    const auto packed = depthwise_ ? pack_depthwise_weight(w, int(out_[0]), op.kernel[0], op.kernel[1], half)
                                   : pack_conv_weight(w, int(out_[0]), int(in_[0]), op.kernel[0], op.kernel[1], half);
    const auto b = pad_bias(op.bias >= 0 ? g.weights[op.bias].data.data() : nullptr, int(out_[0]));
    weight_ = ctx.rt->buffer(packed.size(), packed.data());
    bias_ = ctx.rt->buffer(b.size() * sizeof(float), b.data());
    pointwise_ = !depthwise_ && op.kernel[0] == 1 && op.kernel[1] == 1 && op.stride[0] == 1 && op.stride[1] == 1 &&
                 op.pad[0] == 0 && op.pad[1] == 0;
  }
  void run(const sched::View* in, const sched::View& out, int n) override {
    const BlockSlice s = block_slice(out, out_, ctx_.rt->storage_bytes());
    const int icb = blocks(in_[0]), ocb = blocks(out_[0]), oh = int(out_[1]), ow = int(out_[2]);
    const int act = activation_code(op_.activation);
    if (depthwise_) {
      ctx_.launch("conv2d_depthwise", {size_t(ow + 3) / 4, size_t(oh), size_t(n) * ocb}, true, mem_of(in[0]),
                  weight_, bias_, mem_of(out), ocb, int(in_[1]), int(in_[2]), oh, ow, s.total, s.offset,
                  op_.kernel[0], op_.kernel[1], op_.stride[0], op_.stride[1], op_.pad[0], op_.pad[1],
                  op_.dilation[0], op_.dilation[1], act);
    } else if (pointwise_) {
      ctx_.launch("conv2d_1x1", {size_t(oh * ow + 3) / 4, size_t(ocb + 1) / 2, size_t(n)}, true, mem_of(in[0]),
                  weight_, bias_, mem_of(out), icb, oh * ow, ocb, s.total, s.offset, act);
    } else {
      ctx_.launch("conv2d", {size_t(ow + 3) / 4, size_t(oh), size_t(n) * ((ocb + 1) / 2)}, true, mem_of(in[0]),
                  weight_, bias_, mem_of(out), icb, int(in_[1]), int(in_[2]), ocb, oh, ow, s.total, s.offset,
                  op_.kernel[0], op_.kernel[1], op_.stride[0], op_.stride[1], op_.pad[0], op_.pad[1],
                  op_.dilation[0], op_.dilation[1], act);
    }
  }

 private:
  ExecContext& ctx_;
  graph::Op op_;
  std::vector<int64_t> in_, out_;
  Buffer weight_, bias_;
  bool depthwise_ = false, pointwise_ = false;
};

}  // namespace

std::string check_conv2d(const graph::Graph& g, const graph::Op& op) {
  if (op.groups == 1 || is_depthwise(g, op)) return "";
  return "grouped conv2d (groups=" + std::to_string(op.groups) + ", " +
         std::to_string(g.tensors[op.inputs[0]].shape[0]) + " -> " + std::to_string(g.tensors[op.output].shape[0]) +
         " channels) has no OpenCL kernel: only groups=1 and depthwise (groups = in = out channels) run there";
}

std::unique_ptr<sched::Execution> make_conv2d(ExecContext& ctx, const graph::Graph& g, const graph::Op& op) {
  return std::make_unique<Conv2dExec>(ctx, g, op);
}

}  // namespace facert::opencl
