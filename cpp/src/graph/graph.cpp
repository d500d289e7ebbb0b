#include "graph/graph.hpp"

#include <sstream>

namespace facert::graph {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::None: return "none";
    case Activation::Relu: return "relu";
    case Activation::Relu6: return "relu6";
  }
  return "?";
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}

int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  int64_t span = in + 2 * p - k;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

int64_t Graph::total_params() const {
  int64_t n = 0;
  for (const auto& op : ops) n += op.params;
  return n;
}

int64_t Graph::total_macs() const {
  int64_t n = 0;
  for (const auto& op : ops) n += op.macs;
  return n;
}

int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

Status check_weight(const Graph& g, int id, const std::vector<int64_t>& want, const char* what) {
  const Weight& w = g.weights[id];
  if (w.shape != want)
    return Status::model(std::string(what) + " '" + w.name + "' has shape " + shape_string(w.shape) +
                         ", expected " + shape_string(want));
  return Status::ok();
}

Status expect_rank(const Tensor& t, size_t rank) {
  if (t.shape.size() != rank)
    return Status::model("input '" + t.name + "' has shape " + shape_string(t.shape) + ", expected rank " +
                         std::to_string(rank) + (rank == 3 ? " (C, H, W)" : " (features)"));
  return Status::ok();
}

// Attributes bounded by the input they slide over, so no plan sizes a buffer from an absurd attribute
// (stride 65536 once asked for an 8 TiB scratch): padding at most the input side, a stride at most the
// padded input (a larger one takes the same single window).
Status check_window(const Op& op, int64_t h, int64_t w) {
  const int64_t side[2] = {h, w};
  for (int i = 0; i < 2; ++i) {
    if (op.pad[i] > side[i])
      return Status::model("pad " + std::to_string(op.pad[i]) + " exceeds the input side " + std::to_string(side[i]));
    if (op.stride[i] > side[i] + 2 * op.pad[i])
      return Status::model("stride " + std::to_string(op.stride[i]) + " exceeds the padded input side " +
                           std::to_string(side[i] + 2 * op.pad[i]));
  }
  return Status::ok();
}

Status infer_conv2d(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.size() != 1) return Status::model("conv2d takes exactly one input");
  const Tensor& in = g.tensors[op.inputs[0]];
  FACERT_RETURN_IF_ERROR(expect_rank(in, 3));
  const int64_t c = in.shape[0], h = in.shape[1], w = in.shape[2];
  if (c % op.groups != 0)
    return Status::model("input channels " + std::to_string(c) + " not divisible by groups " +
                         std::to_string(op.groups));
  const Weight& wt = g.weights[op.weight];
  if (wt.shape.size() != 4)
    return Status::model("weight '" + wt.name + "' has shape " + shape_string(wt.shape) +
                         ", expected (O, C/groups, kh, kw)");
  const int64_t o = wt.shape[0];
  if (o % op.groups != 0)
    return Status::model("output channels " + std::to_string(o) + " not divisible by groups " +
                         std::to_string(op.groups));
  FACERT_RETURN_IF_ERROR(check_weight(g, op.weight, {o, c / op.groups, op.kernel[0], op.kernel[1]}, "weight"));
  if (op.bias >= 0) FACERT_RETURN_IF_ERROR(check_weight(g, op.bias, {o}, "bias"));
  FACERT_RETURN_IF_ERROR(check_window(op, h, w));
  const int64_t ho = conv_out_size(h, op.kernel[0], op.stride[0], op.pad[0], op.dilation[0]);
  const int64_t wo = conv_out_size(w, op.kernel[1], op.stride[1], op.pad[1], op.dilation[1]);
  if (ho < 1 || wo < 1) return Status::model("kernel larger than the padded input " + shape_string(in.shape));
  *out = {o, ho, wo};
  // The CPU conv's widest scratch: a zero-padded, stride-phase-split copy of the input.
  const int64_t scratch = c * (h + 2 * op.pad[0] + op.stride[0]) * (w + 2 * op.pad[1] + op.stride[1]);
  if (scratch > 2 * kMaxActivationElements)
    return Status::model("needs a scratch buffer of " + std::to_string(scratch) + " floats, over the 2^29 limit");
  op.params = elements(wt.shape) + (op.bias >= 0 ? o : 0);
  op.macs = o * ho * wo * (c / op.groups) * op.kernel[0] * op.kernel[1];
  return Status::ok();
}

Status infer_maxpool(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.size() != 1) return Status::model("maxpool2d takes exactly one input");
  const Tensor& in = g.tensors[op.inputs[0]];
  FACERT_RETURN_IF_ERROR(expect_rank(in, 3));
  for (int i = 0; i < 2; ++i)
    if (2 * op.pad[i] > op.kernel[i])  // PyTorch's rule: pad at most half the kernel
      return Status::model("pad " + std::to_string(op.pad[i]) + " exceeds half the kernel " +
                           std::to_string(op.kernel[i]));
  FACERT_RETURN_IF_ERROR(check_window(op, in.shape[1], in.shape[2]));
  int64_t ho = pool_out_size(in.shape[1], op.kernel[0], op.stride[0], op.pad[0], op.ceil_mode);
  int64_t wo = pool_out_size(in.shape[2], op.kernel[1], op.stride[1], op.pad[1], op.ceil_mode);
  if (ho < 1 || wo < 1) return Status::model("kernel larger than the padded input " + shape_string(in.shape));
  *out = {in.shape[0], ho, wo};
  return Status::ok();
}

Status infer_concat(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.empty()) return Status::model("concat needs at least one input");
  int64_t channels = 0;
  const Tensor& first = g.tensors[op.inputs[0]];
  for (int id : op.inputs) {
    const Tensor& t = g.tensors[id];
    FACERT_RETURN_IF_ERROR(expect_rank(t, 3));
    if (t.shape[1] != first.shape[1] || t.shape[2] != first.shape[2])
      return Status::model("inputs disagree on H, W: '" + first.name + "' " + shape_string(first.shape) +
                           " vs '" + t.name + "' " + shape_string(t.shape));
    channels += t.shape[0];
  }
  *out = {channels, first.shape[1], first.shape[2]};
  return Status::ok();
}

Status infer_global_avgpool(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.size() != 1) return Status::model("global_avgpool takes exactly one input");
  const Tensor& in = g.tensors[op.inputs[0]];
  FACERT_RETURN_IF_ERROR(expect_rank(in, 3));
  *out = {in.shape[0]};
  return Status::ok();
}

Status infer_linear(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.size() != 1) return Status::model("linear takes exactly one input");
  const Tensor& in = g.tensors[op.inputs[0]];
  FACERT_RETURN_IF_ERROR(expect_rank(in, 1));
  const Weight& wt = g.weights[op.weight];
  if (wt.shape.size() != 2)
    return Status::model("weight '" + wt.name + "' has shape " + shape_string(wt.shape) + ", expected (O, I)");
  FACERT_RETURN_IF_ERROR(check_weight(g, op.weight, {wt.shape[0], in.shape[0]}, "weight"));
  if (op.bias >= 0) FACERT_RETURN_IF_ERROR(check_weight(g, op.bias, {wt.shape[0]}, "bias"));
  *out = {wt.shape[0]};
  op.params = elements(wt.shape) + (op.bias >= 0 ? wt.shape[0] : 0);
  op.macs = wt.shape[0] * in.shape[0];
  return Status::ok();
}

// prelu, softmax: elementwise per channel / across channels at every position, on (C, H, W) or (C).
Status expect_map_or_flat(const Tensor& t) {
  if (t.shape.size() != 3 && t.shape.size() != 1)
    return Status::model("input '" + t.name + "' has shape " + shape_string(t.shape) + ", expected (C, H, W) or (C)");
  return Status::ok();
}

Status infer_prelu(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.size() != 1) return Status::model("prelu takes exactly one input");
  const Tensor& in = g.tensors[op.inputs[0]];
  FACERT_RETURN_IF_ERROR(expect_map_or_flat(in));
  FACERT_RETURN_IF_ERROR(check_weight(g, op.weight, {in.shape[0]}, "slope"));
  *out = in.shape;
  op.params = in.shape[0];
  return Status::ok();
}

Status infer_softmax(Graph& g, Op& op, std::vector<int64_t>* out) {
  if (op.inputs.size() != 1) return Status::model("softmax takes exactly one input");
  const Tensor& in = g.tensors[op.inputs[0]];
  FACERT_RETURN_IF_ERROR(expect_map_or_flat(in));
  *out = in.shape;
  return Status::ok();
}

// The op table of the graph: every op's file spelling and shape rule, in OpType order. The backends' executions
// are listed once more in engine/op_table.cpp (see there for what adding an op touches).
struct OpRule {
  OpType type;
  const char* name;
  Status (*infer)(Graph&, Op&, std::vector<int64_t>*);
};
const OpRule kOpRules[] = {
    {OpType::Conv2d, "conv2d", infer_conv2d},
    {OpType::MaxPool2d, "maxpool2d", infer_maxpool},
    {OpType::Concat, "concat", infer_concat},
    {OpType::GlobalAvgPool, "global_avgpool", infer_global_avgpool},
    {OpType::Linear, "linear", infer_linear},
    {OpType::PRelu, "prelu", infer_prelu},
    {OpType::Softmax, "softmax", infer_softmax},
};

const OpRule* rule_of(OpType t) {
  for (const OpRule& r : kOpRules)
    if (r.type == t) return &r;
  return nullptr;
}

Status infer_op(Graph& g, Op& op, std::vector<int64_t>* out) {
  const OpRule* r = rule_of(op.type);
  return r ? r->infer(g, op, out) : Status::internal("op type without a shape rule in graph.cpp's kOpRules");
}

}  // namespace

const char* op_type_name(OpType t) {
  const OpRule* r = rule_of(t);
  return r ? r->name : "?";
}

Status infer_shapes(Graph* gp) {
  Graph& g = *gp;
  const InputSpec& in = g.input;
  if (in.channels != 3) return Status::model("input must have 3 channels, got " + std::to_string(in.channels));
  if (in.height < 1 || in.width < 1 || in.height > kMaxInputSide || in.width > kMaxInputSide)
    return Status::model("input size " + std::to_string(in.height) + "x" + std::to_string(in.width) +
                         " is outside 1..4096");
  if (g.tensors.empty() || g.input_tensor != 0) return Status::internal("graph has no input tensor");
  g.tensors[0].shape = {3, in.height, in.width};
  int64_t total = elements(g.tensors[0].shape);  // every activation: the most a plan's arena can need
  for (size_t i = 0; i < g.ops.size(); ++i) {
    Op& op = g.ops[i];
    const std::string where = std::string("op '") + op.name + "' (" + op_type_name(op.type) + ")";
    for (int id : op.inputs)
      if (id < 0 || size_t(id) >= g.tensors.size() || g.tensors[id].shape.empty())
        return Status::internal(where + ": input not produced yet");
    std::vector<int64_t> out;
    Status st = infer_op(g, op, &out);
    if (!st.is_ok()) return st.with_context(where);
    if (elements(out) > kMaxActivationElements)
      return Status::model(where + ": output " + shape_string(out) + " exceeds 2^28 elements");
    total += elements(out);
    if (total > kMaxTotalActivationElements)
      return Status::model(where + ": the activations up to here exceed 2^30 elements (4 GiB)");
    g.tensors[op.output].shape = out;
  }
  g.output_tensor = -1;
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].name == g.output.name) g.output_tensor = int(t);
  if (g.output_tensor < 0 || g.tensors[g.output_tensor].producer < 0)
    return Status::model("output '" + g.output.name + "' is not produced by any op");
  // An embedding (dim,), or a detector's dense map (dim, h, w) (MTCNN's P-Net), which is never L2-normalised.
  const auto& os = g.tensors[g.output_tensor].shape;
  if (!((os.size() == 1 || os.size() == 3) && os[0] == g.output.dim))
    return Status::model("output '" + g.output.name + "' has shape " + shape_string(os) + ", expected (" +
                         std::to_string(g.output.dim) + ",) or (" + std::to_string(g.output.dim) +
                         ", h, w) from output.dim");
  if (os.size() == 3 && g.output.l2_normalize)
    return Status::model("output '" + g.output.name + "' is a map " + shape_string(os) +
                         "; l2_normalize applies only to a (dim,) embedding");
  return Status::ok();
}

}  // namespace facert::graph
