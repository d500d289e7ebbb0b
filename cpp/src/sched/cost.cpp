#include "sched/cost.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "model/json.hpp"

namespace facert::sched {

namespace {

using graph::elements;

Result<double> number(const json::Value& obj, const std::string& key, const std::string& where) {
  const json::Value* v = obj.find(key);
  if (!v || !v->is_number() || v->number < 0)
    return Status::model("device profile: " + where + "." + key + " must be a non-negative number");
  return v->number;
}

}  // namespace

Result<CostModel> cost_from_profile(const graph::Graph& g, const std::string& text) {
  auto parsed = json::parse(text.data(), text.size());
  if (!parsed) return Status::model("device profile: " + parsed.status().message());
  const json::Value& root = parsed.value();
  const json::Value* devices = root.find("devices");
  const json::Value* transfer = root.find("transfer");
  if (!root.is_object() || !devices || !devices->is_object() || !transfer || !transfer->is_object())
    return Status::model("device profile: needs objects \"devices\" {\"cpu\", \"gpu\"} and \"transfer\"");
  CostModel c;
  const json::Value* name = root.find("name");
  c.source = "profile " + (name && name->is_string() ? name->string : std::string("(unnamed)"));
  for (int d = 0; d < kDevices; ++d) {
    const std::string dn = device_name(Device(d));
    const json::Value* dev = devices->find(dn);
    if (!dev || !dev->is_object()) return Status::model("device profile: devices." + dn + " is missing");
    const std::string where = "devices." + dn;
    double f3, f1, fo, bw, over;
    {
      auto a = number(*dev, "conv3x3_gflops", where);
      auto b = number(*dev, "conv1x1_gflops", where);
      auto e = number(*dev, "other_gflops", where);
      auto m = number(*dev, "mem_gbps", where);
      auto o = number(*dev, "op_overhead_ms", where);
      for (const auto* r : {&a, &b, &e, &m, &o})
        if (!r->is_ok()) return r->status();
      f3 = a.value(), f1 = b.value(), fo = e.value(), bw = m.value(), over = o.value();
    }
    if (f3 <= 0 || f1 <= 0 || fo <= 0 || bw <= 0) return Status::model("device profile: " + where + ": rates must be > 0");
    for (const auto& op : g.ops) {
      double ms = over;
      // Reading the input and writing the output (fp32): what a memory-bound op costs.
      const double traffic_ms =
          4.0 * double(elements(g.tensors[op.inputs[0]].shape) + elements(g.tensors[op.output].shape)) / (bw * 1e6);
      if (op.type == graph::OpType::Conv2d && op.groups > 1) {
        // Grouped/depthwise: a few MACs per value moved (9 for a 3x3 depthwise), nothing like the GEMM-shaped
        // convs the conv*_gflops rates stand for: the slower of its arithmetic and its traffic (roofline).
        ms += std::max(2.0 * double(op.macs) / (fo * 1e6), traffic_ms);
      } else if (op.type == graph::OpType::Conv2d || op.type == graph::OpType::Linear) {
        const bool k3 = op.type == graph::OpType::Conv2d && op.kernel[0] == 3 && op.kernel[1] == 3;
        const bool k1 = op.type == graph::OpType::Conv2d && op.kernel[0] == 1 && op.kernel[1] == 1;
        ms += 2.0 * double(op.macs) / ((k3 ? f3 : k1 ? f1 : fo) * 1e6);
      } else if (op.type != graph::OpType::Concat) {
        ms += traffic_ms;
      }
      c.op_ms[d].push_back(ms);
    }
  }
  for (auto [key, out] : {std::make_pair("upload", &c.upload), std::make_pair("download", &c.download)}) {
    const json::Value* t = transfer->find(key);
    if (!t || !t->is_object()) return Status::model(std::string("device profile: transfer.") + key + " is missing");
    auto lat = number(*t, "latency_ms", std::string("transfer.") + key);
    auto gbps = number(*t, "gbps", std::string("transfer.") + key);
    if (!lat) return lat.status();
    if (!gbps) return gbps.status();
    if (gbps.value() <= 0) return Status::model(std::string("device profile: transfer.") + key + ".gbps must be > 0");
    out->latency_ms = lat.value();
    out->ms_per_mib = 1048576.0 / (gbps.value() * 1e6);
  }
  return c;
}

std::string cost_to_json(const CostModel& c) {
  std::ostringstream s;
  s.precision(17);  // round-trips a double exactly
  s << "{\"format\": \"facert costs v1\", \"op_ms\": {";
  for (int d = 0; d < kDevices; ++d) {
    s << (d ? ", " : "") << "\"" << device_name(Device(d)) << "\": [";
    for (size_t i = 0; i < c.op_ms[d].size(); ++i) s << (i ? ", " : "") << c.op_ms[d][i];
    s << "]";
  }
  s << "}, \"upload\": [" << c.upload.latency_ms << ", " << c.upload.ms_per_mib << "], \"download\": ["
    << c.download.latency_ms << ", " << c.download.ms_per_mib << "]}\n";
  return s.str();
}

Result<CostModel> cost_from_json(const std::string& text, size_t nops) {
  auto parsed = json::parse(text.data(), text.size());
  if (!parsed) return parsed.status();
  const json::Value& root = parsed.value();
  const json::Value* fmt = root.find("format");
  const json::Value* ops = root.find("op_ms");
  if (!fmt || !fmt->is_string() || fmt->string != "facert costs v1" || !ops || !ops->is_object())
    return Status::model("not a facert cost file");
  CostModel c;
  for (int d = 0; d < kDevices; ++d) {
    const json::Value* a = ops->find(device_name(Device(d)));
    if (!a || !a->is_array() || a->array.size() != nops) return Status::model("cost file: op count differs");
    for (const auto& v : a->array) {
      if (!v.is_number()) return Status::model("cost file: not a number");
      c.op_ms[d].push_back(v.number);
    }
  }
  for (auto [key, out] : {std::make_pair("upload", &c.upload), std::make_pair("download", &c.download)}) {
    const json::Value* t = root.find(key);
    if (!t || !t->is_array() || t->array.size() != 2 || !t->array[0].is_number() || !t->array[1].is_number())
      return Status::model("cost file: bad transfer entry");
    out->latency_ms = t->array[0].number, out->ms_per_mib = t->array[1].number;
  }
  return c;
}

double predict_ms(const Plan& p, const graph::Graph& g, const CostModel& c, std::vector<double>* step_ms) {
  std::vector<double> ready(p.tensors.size(), 0.0);  // when each plan tensor is complete
  double host = 0, queue = 0;
  if (step_ms) step_ms->assign(p.steps.size(), 0.0);
  for (size_t s = 0; s < p.steps.size(); ++s) {
    const Step& st = p.steps[s];
    double start = 0;
    for (int t : st.inputs) start = std::max(start, ready[t]);
    const int64_t bytes = elements(g.tensors[p.tensors[st.output].tensor].shape) * int64_t(sizeof(float));
    const double ms = st.kind == StepKind::Upload     ? c.upload.ms(bytes)
                      : st.kind == StepKind::Download ? c.download.ms(bytes)
                                                      : std::max(0.0, c.op_ms[int(st.device)][st.op]);
    double& lane = st.kind == StepKind::Op && st.device == Device::Cpu ? host : queue;
    start = std::max(start, lane);
    lane = start + ms;
    ready[st.output] = lane;
    if (step_ms) (*step_ms)[s] = ms;
  }
  return std::max(host, ready[p.output]);
}

TransferCost fit_transfer(const std::vector<std::pair<int64_t, double>>& samples) {
  TransferCost t;
  if (samples.empty()) return t;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = double(samples.size());
  for (const auto& [bytes, ms] : samples) {
    const double x = double(bytes) / 1048576.0;
    sx += x, sy += ms, sxx += x * x, sxy += x * ms;
  }
  const double den = n * sxx - sx * sx;
  t.ms_per_mib = den > 1e-12 ? std::max(0.0, (n * sxy - sx * sy) / den) : 0.0;
  t.latency_ms = std::max(0.0, (sy - t.ms_per_mib * sx) / n);
  return t;
}

}  // namespace facert::sched
