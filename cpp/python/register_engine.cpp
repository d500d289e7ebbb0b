// facert._core.Engine and load_model_info. Bindings only: check and convert arrays, release the
// GIL, call engine::Engine, turn Statuses into exceptions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "engine/costs.hpp"
#include "engine/engine.hpp"
#include "model/model_file.hpp"
#include "register_errors.hpp"

namespace py = pybind11;

namespace facert::python {

namespace {

using engine::Engine;
using engine::ImageView;
using U8Array = py::array_t<uint8_t, py::array::c_style>;
using F32Array = py::array_t<float, py::array::c_style>;

std::string describe_array(const py::array& a) {
  std::ostringstream s;
  s << "shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")") << " dtype " << std::string(py::str(a.dtype()));
  return s.str();
}

py::list shape_list(const std::vector<int64_t>& shape) {
  py::list l;
  for (int64_t d : shape) l.append(d);
  return l;
}

py::dict model_info(const model::Model& m) {
  const auto& g = m.graph;
  py::dict info, meta, input, output;
  info["arch"] = g.arch;
  info["format_version"] = m.format_version;
  info["checksum"] = "ok";
  for (const auto& kv : m.metadata) meta[py::str(kv.first)] = kv.second;
  info["metadata"] = meta;
  input["name"] = g.input.name;
  input["shape"] = py::make_tuple(g.input.channels, g.input.height, g.input.width);
  input["channel_order"] = g.input.channel_order;
  input["scale"] = g.input.scale;
  input["mean"] = py::make_tuple(g.input.mean[0], g.input.mean[1], g.input.mean[2]);
  input["std"] = py::make_tuple(g.input.std[0], g.input.std[1], g.input.std[2]);
  info["input"] = input;
  output["name"] = g.output.name;
  output["dim"] = g.output.dim;
  output["l2_normalize"] = g.output.l2_normalize;
  info["output"] = output;
  info["params"] = g.total_params();
  info["macs"] = g.total_macs();
  py::list ops;
  for (const auto& op : g.ops) {
    py::dict d;
    d["name"] = op.name;
    d["type"] = graph::op_type_name(op.type);
    py::list ins;
    for (int t : op.inputs) ins.append(g.tensors[t].name);
    d["inputs"] = ins;
    d["outputs"] = py::make_tuple(g.tensors[op.output].name);
    d["shape"] = py::tuple(shape_list(g.tensors[op.output].shape));
    d["params"] = op.params;
    d["macs"] = op.macs;
    ops.append(d);
  }
  info["ops"] = ops;
  return info;
}

// array_t::ensure returns a null handle (and clears the error) when the contiguous copy cannot be made,
// e.g. a huge strided view: raise MemoryError rather than dereference it.
[[noreturn]] void raise_no_copy(const py::array& a, const char* what) {
  const std::string message = std::string("out of memory making a contiguous copy of the array for ") + what +
                              " (" + describe_array(a) + ")";
  PyErr_SetString(PyExc_MemoryError, message.c_str());
  throw py::error_already_set();
}

// An HxWx3 uint8 array, made C-contiguous (a copy only when it is not).
U8Array as_image(const py::handle& obj, const char* what) {
  if (!py::isinstance<py::array>(obj))
    throw InputError(std::string("expected an HxWx3 uint8 BGR image (numpy array) for ") + what + ", got " +
                     std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.ndim() != 3 || a.shape(2) != 3 || !a.dtype().is(py::dtype::of<uint8_t>()) || a.shape(0) < 1 ||
      a.shape(1) < 1)
    throw InputError(std::string("expected an HxWx3 uint8 BGR image for ") + what + ", got " + describe_array(a));
  U8Array c = U8Array::ensure(a);
  if (!c) raise_no_copy(a, what);
  return c;
}

ImageView view_of(const U8Array& a) {
  ImageView v;
  v.data = a.data();
  v.height = a.shape(0);
  v.width = a.shape(1);
  v.row_stride = a.shape(1) * 3;
  return v;
}

py::dict schedule_dict(const sched::Schedule& s, const std::string& source, const graph::Graph& g) {
  py::dict d, families, measured, placements;
  for (const auto& f : s.families) {
    if (f.available) families[py::str(f.name)] = f.ms;
    if (f.measured_ms >= 0) measured[py::str(f.name)] = f.measured_ms;
    if (!f.available || f.placement.empty()) continue;
    py::dict p;
    for (size_t i = 0; i < f.placement.size(); ++i) p[py::str(g.ops[i].name)] = sched::device_name(f.placement[i]);
    placements[py::str(f.name)] = p;  // each family's placement, for placement= (benchmarks pin them)
  }
  d["placements"] = placements;
  d["families"] = families;  // predicted ms per image (frames in flight: per frame, throughput)
  d["measured"] = measured;  // end-to-end median ms of the plans the engine ran to choose
  d["chosen"] = s.best().name;
  d["cost_source"] = source;
  return d;
}

class PyEngine {
 public:
  PyEngine(const std::string& path, int threads, const std::string& isa, const std::string& device,
           const std::string& precision, const std::string& cache_dir,
           const std::map<std::string, std::string>& placement, std::array<int, 2> input_size) {
    opencl::DeviceRequest request{device, precision, cache_dir, placement};
    Result<std::unique_ptr<Engine>> e = Status::internal("not created");
    {
      py::gil_scoped_release nogil;  // OpenCL kernel builds can take seconds
      e = Engine::create(path, threads, isa, request, input_size);
    }
    check(e.status());
    engine_ = std::move(e).value();
    // pybind11 binds NumPy's C API on first use (~0.15 ms): here, not in the first inference.
    py::array_t<float> bind_numpy(1);
    (void)F32Array::ensure(bind_numpy);
  }

  py::array_t<float> embed(const py::handle& img) const {
    U8Array a = as_image(img, "embed");
    py::array_t<float> out(engine_->dim());
    const ImageView v = view_of(a);
    float* dst = out.mutable_data();
    Status st;
    {
      py::gil_scoped_release nogil;
      st = engine_->embed(v, dst);
    }
    check(st);
    return out;
  }

  py::array_t<float> embed_batch(const py::handle& imgs) const {
    std::vector<U8Array> held;
    if (py::isinstance<py::array>(imgs)) {
      py::array a = py::reinterpret_borrow<py::array>(imgs);
      if (a.ndim() != 4 || a.shape(3) != 3 || !a.dtype().is(py::dtype::of<uint8_t>()))
        throw InputError("expected a list of HxWx3 uint8 BGR images or an (N, H, W, 3) uint8 array, got " +
                         describe_array(a));
      for (py::ssize_t i = 0; i < a.shape(0); ++i) held.push_back(as_image(a[py::int_(i)], "embed_batch"));
    } else if (py::isinstance<py::sequence>(imgs) && !py::isinstance<py::str>(imgs)) {
      auto seq = py::reinterpret_borrow<py::sequence>(imgs);
      for (size_t i = 0; i < seq.size(); ++i) {
        const std::string what = "embed_batch image " + std::to_string(i);
        held.push_back(as_image(seq[i], what.c_str()));
      }
    } else {
      throw InputError("expected a list of HxWx3 uint8 BGR images or an (N, H, W, 3) uint8 array");
    }
    if (held.empty()) throw InputError("embed_batch needs at least one image, got none");
    std::vector<ImageView> views;
    for (const auto& a : held) views.push_back(view_of(a));
    py::array_t<float> out({py::ssize_t(views.size()), py::ssize_t(engine_->dim())});
    float* dst = out.mutable_data();
    Status st;
    {
      py::gil_scoped_release nogil;
      st = engine_->embed_batch(views.data(), int64_t(views.size()), dst);
    }
    check(st);
    return out;
  }

  py::array_t<float> forward(const py::handle& obj) const {
    const auto shape = engine_->input_shape();
    std::ostringstream want;
    want << "expected a float32 (N, " << shape[0] << ", " << shape[1] << ", " << shape[2] << ") tensor";
    if (!py::isinstance<py::array>(obj)) throw InputError(want.str() + " (numpy array)");
    py::array a = py::reinterpret_borrow<py::array>(obj);
    if (a.ndim() != 4 || !a.dtype().is(py::dtype::of<float>()) || a.shape(0) < 1 || a.shape(1) != shape[0] ||
        a.shape(2) != shape[1] || a.shape(3) != shape[2])
      throw InputError(want.str() + ", got " + describe_array(a));
    F32Array x = F32Array::ensure(a);
    if (!x) raise_no_copy(a, "forward");
    const int64_t n = x.shape(0);
    std::vector<py::ssize_t> out_shape{py::ssize_t(n)};
    for (int64_t d : engine_->output_shape()) out_shape.push_back(py::ssize_t(d));
    py::array_t<float> out(out_shape);
    const float* src = x.data();
    float* dst = out.mutable_data();
    Status st;
    {
      py::gil_scoped_release nogil;
      st = engine_->forward(src, n, dst);
    }
    check(st);
    return out;
  }

  py::array_t<float> preprocess(const py::handle& img) const {
    U8Array a = as_image(img, "preprocess");
    const auto shape = engine_->input_shape();
    py::array_t<float> out({shape[0], shape[1], shape[2]});
    const ImageView v = view_of(a);
    float* dst = out.mutable_data();
    Status st;
    {
      py::gil_scoped_release nogil;
      st = engine_->preprocess(v, dst);
    }
    check(st);
    return out;
  }

  int dim() const { return engine_->dim(); }
  py::tuple output_shape() const {
    py::tuple t(engine_->output_shape().size());
    for (size_t i = 0; i < engine_->output_shape().size(); ++i) t[i] = engine_->output_shape()[i];
    return t;
  }
  py::tuple input_shape() const {
    const auto s = engine_->input_shape();
    return py::make_tuple(s[0], s[1], s[2]);
  }
  py::dict info() const {
    py::dict d = model_info(engine_->model());
    d["threads"] = engine_->threads();
    d["threads_in_use"] = engine_->threads_in_use();
    d["isa"] = engine_->isa_name();
    d["device"] = engine_->device();
    d["precision"] = engine_->gpu() ? engine_->gpu()->precision() : "fp32";
    if (engine_->gpu()) {
      py::dict cl;
      for (const auto& [k, v] : engine_->gpu()->info()) cl[py::str(k)] = v;
      d["opencl"] = cl;
    }
    if (!engine_->fallback_reason().empty()) {
      d["fallback_reason"] = engine_->fallback_reason();
      d["fallback_is_failure"] = engine_->fallback_is_failure();
    }
    const auto& plan = engine_->plan();
    d["arena_bytes"] = plan.arena_bytes[0] + plan.arena_bytes[1];
    if (engine_->schedule()) {
      py::dict s = schedule_dict(*engine_->schedule(), engine_->cost_source(), engine_->graph());
      s["frames_in_flight"] = engine_->frames_in_flight();  // batches shared out across both devices
      if (engine_->stream_alone_ms() >= 0) s["stream_alone_ms"] = engine_->stream_alone_ms();
      d["schedule"] = s;
    }
    return d;
  }
  std::string plan() const { return engine_->describe_plan(); }
  std::map<std::string, std::string> placement() const { return engine_->placement(); }

  // [(step, op or transfer, device, ms)] from `runs` timed runs; engine.plan() shows them afterwards.
  py::list profile(int runs) const {
    std::vector<double> ms;
    Status st;
    {
      py::gil_scoped_release nogil;
      st = engine_->profile(runs, &ms);
    }
    check(st);
    const auto& plan = engine_->plan();
    const auto& g = engine_->graph();
    py::list out;
    for (size_t s = 0; s < plan.steps.size(); ++s) {
      const auto& step = plan.steps[s];
      const std::string what = step.kind == sched::StepKind::Op ? g.ops[step.op].name
                               : (step.kind == sched::StepKind::Upload ? "upload " : "download ") +
                                     g.tensors[plan.tensors[step.output].tensor].name;
      const char* kind = step.kind == sched::StepKind::Op ? graph::op_type_name(g.ops[step.op].type)
                         : step.kind == sched::StepKind::Upload ? "upload" : "download";
      py::dict d;
      d["step"] = s;
      d["name"] = what;
      d["type"] = kind;
      d["device"] = sched::device_name(step.device);
      d["ms"] = ms[s];
      out.append(d);
    }
    return out;
  }
  void fail_gpu_after(int n) const { check(engine_->fail_gpu_after(n)); }
  py::array_t<float> forward_frames_in_flight(const py::array_t<float, py::array::c_style>& x) const {
    if (x.ndim() != 4 || x.shape(1) != engine_->input_shape()[0] || x.shape(2) != engine_->input_shape()[1] ||
        x.shape(3) != engine_->input_shape()[2] || x.shape(0) < 1)
      throw InputError("expected a float32 (N, C, H, W) tensor of the model's input shape");
    py::array_t<float> out({py::ssize_t(x.shape(0)), py::ssize_t(engine_->dim())});
    const float* src = x.data();
    float* dst = out.mutable_data();
    Status st;
    {
      py::gil_scoped_release nogil;
      st = engine_->forward_frames_in_flight(src, x.shape(0), dst);
    }
    check(st);
    return out;
  }

 private:
  std::shared_ptr<Engine> engine_;
};

}  // namespace

void register_engine(py::module_& m) {
  m.attr("version") = FACERT_VERSION;
  m.def(
      "load_model_info",
      [](const std::string& path) {
        Result<model::Model> r = Status::internal("not loaded");
        {
          py::gil_scoped_release nogil;
          r = model::load_model_file(path);
        }
        check(r.status());
        return model_info(r.value());
      },
      py::arg("path"), "Validate an sq.bin file completely (checksum included) and describe it; builds no kernels.");

  m.def(
      "plan_from_profile",
      [](const std::string& path, const std::string& profile_json, const std::string& precision) {
        Result<engine::PaperPlan> r = Status::internal("not planned");
        {
          py::gil_scoped_release nogil;
          r = engine::plan_from_profile(path, profile_json, precision);
        }
        check(r.status());
        auto model = model::load_model_file(path);
        check(model.status());
        py::dict d = schedule_dict(r.value().schedule, r.value().source, model.value().graph);
        d["plan"] = r.value().text;
        return d;
      },
      py::arg("path"), py::arg("profile_json"), py::arg("precision") = "fp32",
      "Schedule a model on a device profile (no device needed): every plan family's predicted ms and the plan.");
  m.def(
      "_schedule_dp",
      [](const std::vector<std::vector<int>>& op_inputs, const std::vector<int>& op_output, int tensors, int input,
         int output, const std::vector<double>& cpu_ms, const std::vector<double>& gpu_ms,
         const std::vector<double>& up_ms, const std::vector<double>& down_ms) {
        sched::DpProblem p;
        p.op_inputs = op_inputs, p.op_output = op_output, p.tensors = tensors, p.input = input, p.output = output;
        p.op_ms[0] = cpu_ms, p.op_ms[1] = gpu_ms, p.up_ms = up_ms, p.down_ms = down_ms;
        const size_t n = op_inputs.size();
        if (op_output.size() != n || cpu_ms.size() != n || gpu_ms.size() != n || up_ms.size() != size_t(tensors) ||
            down_ms.size() != size_t(tensors))
          throw py::value_error("_schedule_dp: sizes disagree");
        const sched::DpResult r = sched::solve_dp(p);
        std::vector<std::string> place;
        for (auto d : r.placement) place.push_back(sched::device_name(d));
        return py::make_tuple(place, r.cost, sched::additive_cost(p, r.placement));
      },
      "test hook: the placement DP on a synthetic problem -> (placement, cost, additive_cost(placement))");

  py::class_<PyEngine>(m, "Engine", "Inference engine for one sq.bin model on the CPU, OpenCL or both; thread-safe.")
      .def(py::init<const std::string&, int, const std::string&, const std::string&, const std::string&,
                    const std::string&, const std::map<std::string, std::string>&, std::array<int, 2>>(),
           py::arg("path"), py::arg("threads") = 0, py::arg("isa") = "auto", py::arg("device") = "cpu",
           py::arg("precision") = "fp32", py::arg("cache_dir") = "",
           py::arg("placement") = std::map<std::string, std::string>{},
           py::arg("input_size") = std::array<int, 2>{0, 0})
      .def("embed", &PyEngine::embed, py::arg("img"), "HxWx3 uint8 BGR image -> (D,) float32 embedding")
      .def("embed_batch", &PyEngine::embed_batch, py::arg("imgs"),
           "list of HxWx3 uint8 BGR images, or an (N, H, W, 3) uint8 array -> (N, D) float32")
      .def("forward", &PyEngine::forward, py::arg("x"), "(N, C, H, W) float32 normalised input -> (N, D) raw output")
      .def("preprocess", &PyEngine::preprocess, py::arg("img"), "the (C, H, W) float32 tensor embed() feeds the network")
      .def("plan", &PyEngine::plan, "the execution plan as a table: step, op or transfer, device, layout, output, "
           "arena offset, measured ms after profile()")
      .def_property_readonly("placement", &PyEngine::placement, "op name -> 'cpu' | 'gpu' in the plan in force")
      .def("profile", &PyEngine::profile, py::arg("runs") = 10, "per-step timings, each step timed alone")
      .def("_forward_frames_in_flight", &PyEngine::forward_frames_in_flight, py::arg("x"),
           "test hook: forward with the batch shared across both devices, whatever the measurement said")
      .def("_fail_gpu_after", &PyEngine::fail_gpu_after, py::arg("n"),
           "test hook: the n-th OpenCL kernel launch from now fails like a CL error")
      .def_property_readonly("dim", &PyEngine::dim)
      .def_property_readonly("output_shape", &PyEngine::output_shape)
      .def_property_readonly("input_shape", &PyEngine::input_shape)
      .def_property_readonly("info", &PyEngine::info);
}

}  // namespace facert::python
