#include "model/graph_json.hpp"

#include <cmath>
#include <map>
#include <set>
#include <string>

namespace facert::model {

namespace {

using json::Value;
using graph::Graph;
using graph::Op;
using graph::OpType;

// Attribute limits: generous for any face network, small enough that products cannot overflow.
constexpr int64_t kMaxAttr = 1 << 16;
constexpr double kMaxInputConstant = 1e6;

Status check_keys(const Value& obj, const std::set<std::string>& allowed) {
  for (const auto& kv : obj.object)
    if (!allowed.count(kv.first)) return Status::model("unexpected attribute '" + kv.first + "'");
  for (const auto& k : allowed)
    if (!obj.find(k)) return Status::model("missing attribute '" + k + "'");
  return Status::ok();
}

Status get_string(const Value& obj, const char* key, std::string* out) {
  const Value* v = obj.find(key);
  if (!v || !v->is_string())
    return Status::model(std::string("attribute '") + key + "' must be a string");
  *out = v->string;
  return Status::ok();
}

Status get_int(const Value& obj, const char* key, int64_t lo, int64_t hi, int64_t* out) {
  const Value* v = obj.find(key);
  if (!v || !v->is_number() || !v->is_integer || v->integer < lo || v->integer > hi)
    return Status::model(std::string("attribute '") + key + "' must be an integer in " + std::to_string(lo) +
                         ".." + std::to_string(hi));
  *out = v->integer;
  return Status::ok();
}

Status get_pair(const Value& obj, const char* key, int64_t lo, std::array<int, 2>* out) {
  const Value* v = obj.find(key);
  if (!v || !v->is_array() || v->array.size() != 2)
    return Status::model(std::string("attribute '") + key + "' must be a list of 2 integers");
  for (int i = 0; i < 2; ++i) {
    const Value& e = v->array[i];
    if (!e.is_number() || !e.is_integer || e.integer < lo || e.integer > kMaxAttr)
      return Status::model(std::string("attribute '") + key + "' must hold integers in " + std::to_string(lo) +
                           ".." + std::to_string(kMaxAttr));
    (*out)[i] = int(e.integer);
  }
  return Status::ok();
}

Status get_number(const Value& obj, const char* key, double* out) {
  const Value* v = obj.find(key);
  if (!v || !v->is_number()) return Status::model(std::string("'") + key + "' must be a number");
  *out = v->number;
  return Status::ok();
}

Status get_activation(const Value& obj, graph::Activation* out) {
  std::string s;
  FACERT_RETURN_IF_ERROR(get_string(obj, "activation", &s));
  if (s == "none") *out = graph::Activation::None;
  else if (s == "relu") *out = graph::Activation::Relu;
  else if (s == "relu6") *out = graph::Activation::Relu6;
  else return Status::model("unknown activation '" + s + "' (expected none, relu or relu6)");
  return Status::ok();
}

class GraphReader {
 public:
  GraphReader(const std::vector<safetensors::TensorEntry>& table, const uint8_t* data) : data_(data) {
    for (const auto& t : table) table_[t.name] = &t;
  }

  Result<Graph> read(const Value& root) {
    if (!root.is_object()) return Status::model("graph is not a JSON object");
    Status st = check_keys(root, {"arch", "input", "output", "ops"});
    if (!st.is_ok()) return st.with_context("graph");
    FACERT_RETURN_IF_ERROR(get_string(root, "arch", &g_.arch).with_context("graph"));
    FACERT_RETURN_IF_ERROR(read_input(*root.find("input")).with_context("graph input"));
    FACERT_RETURN_IF_ERROR(read_output(*root.find("output")).with_context("graph output"));
    const Value& ops = *root.find("ops");
    if (!ops.is_array() || ops.array.empty()) return Status::model("graph ops must be a non-empty list");
    for (size_t i = 0; i < ops.array.size(); ++i) {
      Status s = read_op(ops.array[i]);
      if (!s.is_ok()) return s.with_context("op " + std::to_string(i) + op_label(ops.array[i]));
    }
    FACERT_RETURN_IF_ERROR(graph::infer_shapes(&g_));
    return std::move(g_);
  }

 private:
  static std::string op_label(const Value& op) {
    const Value* name = op.is_object() ? op.find("name") : nullptr;
    return name && name->is_string() ? " '" + name->string + "'" : std::string();
  }

  Status read_input(const Value& v) {
    if (!v.is_object()) return Status::model("must be an object");
    FACERT_RETURN_IF_ERROR(check_keys(v, {"name", "shape", "channel_order", "scale", "mean", "std"}));
    auto& in = g_.input;
    FACERT_RETURN_IF_ERROR(get_string(v, "name", &in.name));
    graph::Tensor t;  // tensor 0: the input
    t.name = in.name;
    g_.tensors.push_back(t);
    tensor_ids_[t.name] = 0;
    const Value& shape = *v.find("shape");
    if (!shape.is_array() || shape.array.size() != 3)
      return Status::model("shape must be [3, H, W]");
    int64_t dims[3];
    for (int i = 0; i < 3; ++i) {
      const Value& d = shape.array[i];
      if (!d.is_number() || !d.is_integer || d.integer < 1 || d.integer > graph::kMaxInputSide)
        return Status::model("shape must be [3, H, W] with H, W in 1..4096");
      dims[i] = d.integer;
    }
    if (dims[0] != 3) return Status::model("shape must be [3, H, W]; got " + std::to_string(dims[0]) + " channels");
    in.channels = 3;
    in.height = int(dims[1]);
    in.width = int(dims[2]);
    FACERT_RETURN_IF_ERROR(get_string(v, "channel_order", &in.channel_order));
    if (in.channel_order != "RGB" && in.channel_order != "BGR")
      return Status::model("channel_order must be \"RGB\" or \"BGR\", got \"" + in.channel_order + "\"");
    FACERT_RETURN_IF_ERROR(get_number(v, "scale", &in.scale));
    for (const char* key : {"mean", "std"}) {
      const Value& a = *v.find(key);
      if (!a.is_array() || a.array.size() != 3) return Status::model(std::string(key) + " must be 3 numbers");
      for (int c = 0; c < 3; ++c) {
        if (!a.array[c].is_number()) return Status::model(std::string(key) + " must be 3 numbers");
        (key[0] == 'm' ? in.mean : in.std)[c] = a.array[c].number;
      }
    }
    for (int c = 0; c < 3; ++c)
      if (!(std::fabs(in.std[c]) > 1e-12)) return Status::model("std must be non-zero");
    // Bounded so the fp32 normalisation (x * scale - mean) / std of any pixel stays finite.
    for (double x : {in.scale, in.mean[0], in.mean[1], in.mean[2], in.std[0], in.std[1], in.std[2]})
      if (!(std::fabs(x) <= kMaxInputConstant))
        return Status::model("scale, mean and std must lie within +-1e6");
    return Status::ok();
  }

  Status read_output(const Value& v) {
    if (!v.is_object()) return Status::model("must be an object");
    FACERT_RETURN_IF_ERROR(check_keys(v, {"name", "dim", "l2_normalize"}));
    FACERT_RETURN_IF_ERROR(get_string(v, "name", &g_.output.name));
    int64_t dim;
    FACERT_RETURN_IF_ERROR(get_int(v, "dim", 1, int64_t(1) << 20, &dim));
    g_.output.dim = int(dim);
    const Value* l2 = v.find("l2_normalize");
    if (!l2->is_bool()) return Status::model("l2_normalize must be true or false");
    g_.output.l2_normalize = l2->boolean;
    return Status::ok();
  }

  Result<int> weight_id(const std::string& key) {
    auto known = weight_ids_.find(key);
    if (known != weight_ids_.end()) return known->second;
    auto it = table_.find(key);
    if (it == table_.end()) return Status::model("weight '" + key + "' is not a tensor in the file");
    const auto& entry = *it->second;
    graph::Weight w;
    w.name = key;
    w.shape = entry.shape;
    // Size already bounded: the entry's bytes lie inside the file (read_tensor_table).
    w.data.resize(size_t((entry.end - entry.begin) / safetensors::itemsize(entry.dtype)));
    safetensors::read_as_f32(entry, data_, w.data.data());
    // The CRC only says the bytes are the writer's: a diverged checkpoint or a forged file can hold NaN/Inf,
    // which every kernel would carry into the embedding.
    for (size_t i = 0; i < w.data.size(); ++i)
      if (!std::isfinite(w.data[i]))
        return Status::model("weight '" + key + "' holds a non-finite value (" +
                             (std::isnan(w.data[i]) ? "NaN" : "Inf") + ") at element " + std::to_string(i));
    g_.weights.push_back(std::move(w));
    int id = int(g_.weights.size() - 1);
    weight_ids_[key] = id;
    return id;
  }

  Status read_weights(const Value& v, Op* op) {
    std::string w;
    FACERT_RETURN_IF_ERROR(get_string(v, "weight", &w));
    auto wid = weight_id(w);
    if (!wid) return wid.status();
    op->weight = wid.value();
    const Value* b = v.find("bias");
    if (b->is_null()) {
      op->bias = -1;
    } else if (b->is_string()) {
      auto bid = weight_id(b->string);
      if (!bid) return bid.status();
      op->bias = bid.value();
    } else {
      return Status::model("attribute 'bias' must be a tensor name or null");
    }
    return get_activation(v, &op->activation);
  }

  Status read_attributes(const Value& v, Op* op) {
    static const std::set<std::string> common = {"type", "name", "inputs", "outputs"};
    auto with = [&](std::initializer_list<const char*> extra) {
      std::set<std::string> s = common;
      for (const char* e : extra) s.insert(e);
      return s;
    };
    switch (op->type) {
      case OpType::Conv2d: {
        FACERT_RETURN_IF_ERROR(check_keys(
            v, with({"weight", "bias", "kernel", "stride", "pad", "dilation", "groups", "activation"})));
        FACERT_RETURN_IF_ERROR(get_pair(v, "kernel", 1, &op->kernel));
        FACERT_RETURN_IF_ERROR(get_pair(v, "stride", 1, &op->stride));
        FACERT_RETURN_IF_ERROR(get_pair(v, "pad", 0, &op->pad));
        FACERT_RETURN_IF_ERROR(get_pair(v, "dilation", 1, &op->dilation));
        int64_t groups;
        FACERT_RETURN_IF_ERROR(get_int(v, "groups", 1, kMaxAttr, &groups));
        op->groups = int(groups);
        return read_weights(v, op);
      }
      case OpType::MaxPool2d: {
        FACERT_RETURN_IF_ERROR(check_keys(v, with({"kernel", "stride", "pad", "ceil_mode"})));
        FACERT_RETURN_IF_ERROR(get_pair(v, "kernel", 1, &op->kernel));
        FACERT_RETURN_IF_ERROR(get_pair(v, "stride", 1, &op->stride));
        FACERT_RETURN_IF_ERROR(get_pair(v, "pad", 0, &op->pad));
        const Value* cm = v.find("ceil_mode");
        if (!cm->is_bool()) return Status::model("attribute 'ceil_mode' must be true or false");
        op->ceil_mode = cm->boolean;
        return Status::ok();
      }
      case OpType::Concat: {
        FACERT_RETURN_IF_ERROR(check_keys(v, with({"axis"})));
        int64_t axis;
        FACERT_RETURN_IF_ERROR(get_int(v, "axis", 1, 1, &axis));
        return Status::ok();
      }
      case OpType::GlobalAvgPool:
        return check_keys(v, common);
      case OpType::Linear:
        FACERT_RETURN_IF_ERROR(check_keys(v, with({"weight", "bias", "activation"})));
        return read_weights(v, op);
      case OpType::PRelu: {
        FACERT_RETURN_IF_ERROR(check_keys(v, with({"weight"})));
        std::string w;
        FACERT_RETURN_IF_ERROR(get_string(v, "weight", &w));
        auto wid = weight_id(w);
        if (!wid) return wid.status();
        op->weight = wid.value();
        return Status::ok();
      }
      case OpType::Softmax: {
        FACERT_RETURN_IF_ERROR(check_keys(v, with({"axis"})));
        int64_t axis;
        return get_int(v, "axis", 1, 1, &axis);
      }
    }
    return Status::internal("unhandled op type");
  }

  Status read_op(const Value& v) {
    if (!v.is_object()) return Status::model("is not an object");
    Op op;
    std::string type;
    FACERT_RETURN_IF_ERROR(get_string(v, "type", &type));
    static const std::map<std::string, OpType> kTypes = {
        {"conv2d", OpType::Conv2d}, {"maxpool2d", OpType::MaxPool2d}, {"concat", OpType::Concat},
        {"global_avgpool", OpType::GlobalAvgPool}, {"linear", OpType::Linear}, {"prelu", OpType::PRelu},
        {"softmax", OpType::Softmax}};
    auto t = kTypes.find(type);
    if (t == kTypes.end()) return Status::model("unknown op type '" + type + "'");
    op.type = t->second;
    FACERT_RETURN_IF_ERROR(get_string(v, "name", &op.name));
    if (!op_names_.insert(op.name).second) return Status::model("duplicate op name '" + op.name + "'");
    FACERT_RETURN_IF_ERROR(read_attributes(v, &op));
    const Value* inputs = v.find("inputs");
    if (!inputs->is_array() || inputs->array.empty())
      return Status::model("'inputs' must be a non-empty list of tensor names");
    for (const auto& name : inputs->array) {
      if (!name.is_string()) return Status::model("'inputs' must be a list of tensor names");
      auto it = tensor_ids_.find(name.string);
      if (it == tensor_ids_.end())
        return Status::model("reads '" + name.string + "' before any op produces it");
      op.inputs.push_back(it->second);
    }
    const Value* outputs = v.find("outputs");
    if (!outputs->is_array() || outputs->array.size() != 1 || !outputs->array[0].is_string())
      return Status::model("'outputs' must be a list of exactly one tensor name");
    const std::string& out = outputs->array[0].string;
    if (tensor_ids_.count(out)) return Status::model("tensor '" + out + "' is produced twice");
    graph::Tensor tensor;
    tensor.name = out;
    tensor.producer = int(g_.ops.size());
    g_.tensors.push_back(tensor);
    op.output = int(g_.tensors.size() - 1);
    tensor_ids_[out] = op.output;
    g_.ops.push_back(std::move(op));
    return Status::ok();
  }

  const uint8_t* data_;
  Graph g_;
  std::map<std::string, const safetensors::TensorEntry*> table_;
  std::map<std::string, int> tensor_ids_, weight_ids_;
  std::set<std::string> op_names_;
};

}  // namespace

Result<graph::Graph> read_graph(const json::Value& graph_json, const std::vector<safetensors::TensorEntry>& table,
                                const uint8_t* data) {
  return GraphReader(table, data).read(graph_json);
}

}  // namespace facert::model
