#include "engine/engine.hpp"

#include "engine/checks.hpp"

#include <cstring>
#include <exception>
#include <new>

#include "cpu/kernels.hpp"

namespace facert::engine {

namespace {

// Turns anything thrown from inside an execution or an allocation into a Status: nothing escapes.
template <class F>
Status guarded(const char* what, F&& fn) {
  try {
    fn();
    return Status::ok();
  } catch (const opencl::Error& e) {
    return Status::device(e.what());
  } catch (const std::bad_alloc&) {
    return Status::internal(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Status::internal(std::string(what) + ": " + e.what());
  }
}

}  // namespace

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(const std::string& path, int threads, const std::string& isa,
                                               const opencl::DeviceRequest& device, std::array<int, 2> input_size) {
  cpu::Isa chosen;
  if (!cpu::parse_isa(isa, &chosen))
    return Status::argument("unknown isa '" + isa + "' (expected auto, ref, avx2 or neon)");
  if (!cpu::isa_available(chosen))
    return Status::device(std::string("isa '") + cpu::isa_name(chosen) + "' is not available on this CPU/build");
  auto choice = opencl::open_device(device);  // argument checks first, before loading anything
  if (!choice) return choice.status();
  auto loaded = model::load_model_file(path);
  if (!loaded) return loaded.status();
  std::unique_ptr<Engine> e(new Engine());
  e->model_ = std::move(loaded).value();
  if (input_size[0] != 0 || input_size[1] != 0) {
    auto& g = e->model_.graph;
    const std::string size = std::to_string(input_size[0]) + "x" + std::to_string(input_size[1]);
    if (input_size[0] < 1 || input_size[1] < 1 || input_size[0] > graph::kMaxInputSide ||
        input_size[1] > graph::kMaxInputSide)
      return Status::argument("input_size " + size + " is outside 1..4096");
    g.input.height = input_size[0], g.input.width = input_size[1];
    Status st = graph::infer_shapes(&g);
    if (!st.is_ok()) return Status::argument("input_size " + size + " does not fit this model: " + st.message());
  }
  e->gpu_ = std::move(choice.value().gpu);
  e->fallback_reason_ = choice.value().fallback_reason;
  e->fallback_is_failure_ = choice.value().fallback_is_failure;
  e->requested_ = !e->gpu_ ? "cpu" : device.device == "hetero" ? "hetero" : "gpu";
  Status st = guarded("building the engine", [&] { e->cpu_ = std::make_unique<cpu::CpuBackend>(threads, chosen); });
  if (!st.is_ok()) return st;
  FACERT_RETURN_IF_ERROR(e->build(device));
  return e;
}

// Per op: "cpu" or "gpu" from the request; ops the OpenCL backend declines stay on the CPU where the request
// allows it (auto, unnamed hetero ops), else the request is refused naming the op and the reason.
Result<std::vector<sched::Device>> Engine::resolve_placement(const opencl::DeviceRequest& request) const {
  const auto& g = model_.graph;
  const size_t nops = g.ops.size();
  std::vector<sched::Device> place(nops, gpu_ ? sched::Device::Gpu : sched::Device::Cpu);
  std::vector<bool> named(nops, false);
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < nops; ++i)
      if (g.ops[i].name == name) return int(i);
    return -1;
  };
  for (const auto& [name, where] : request.placement) {
    const int i = index_of(name);
    if (i < 0) return Status::argument("placement names op '" + name + "', which the model does not have");
    if (where == "split") {
      const auto& op = g.ops[i];
      const bool pair = op.type == graph::OpType::Concat && op.inputs.size() == 2 &&
                        g.tensors[op.inputs[0]].producer >= 0 && g.tensors[op.inputs[1]].producer >= 0 &&
                        g.ops[g.tensors[op.inputs[0]].producer].type == graph::OpType::Conv2d &&
                        g.ops[g.tensors[op.inputs[1]].producer].type == graph::OpType::Conv2d;
      if (!pair)
        return Status::argument("placement '" + name + "': 'split' applies to a concat of two convs (a fire "
                                "module's expand pair)");
      const int a = g.tensors[op.inputs[0]].producer, b = g.tensors[op.inputs[1]].producer;
      place[a] = sched::Device::Cpu, place[b] = sched::Device::Gpu, place[i] = sched::Device::Gpu;
      named[a] = named[b] = named[i] = true;
      continue;
    }
    sched::Device d;
    if (!sched::parse_device(where, &d))
      return Status::argument("placement['" + name + "'] must be 'cpu', 'gpu' or 'split', got '" + where + "'");
    place[i] = d;
    named[i] = true;
  }
  for (size_t i = 0; i < nops; ++i) {
    if (place[i] != sched::Device::Gpu) continue;
    const std::string why = gpu_->unsupported(g, int(i));
    if (why.empty()) continue;
    if (named[i] || request.device == "gpu")
      return Status::device("op '" + g.ops[i].name + "' cannot run on the OpenCL device: " + why +
                            (request.device == "gpu" ? " (device='hetero' runs it on the CPU)" : ""));
    place[i] = sched::Device::Cpu;
  }
  return place;
}

Status Engine::build(const opencl::DeviceRequest& request) {
  auto placed = resolve_placement(request);
  if (!placed) {
    if (request.device != "auto") return placed.status();
    fallback_reason_ = placed.status().message();  // auto: an op the device cannot run
    gpu_.reset();
    requested_ = "cpu";
    placed = std::vector<sched::Device>(model_.graph.ops.size(), sched::Device::Cpu);
  }
  const auto& place = placed.value();
  const auto& g = model_.graph;
  sched::Backend* backends[sched::kDevices] = {cpu_.get(), gpu_.get()};
  sched::Layout layouts[sched::kDevices] = {cpu_->layout(), gpu_ ? gpu_->layout() : sched::gpu_layout(4)};
  // Executions: what the plan uses and, for hetero, the CPU for every op (the fallback); nothing else, so
  // device="gpu" repacks no CPU weights.
  Status st = guarded("preparing the ops", [&] {
    for (int d = 0; d < sched::kDevices; ++d) execs_[d].resize(g.ops.size());
    for (size_t i = 0; i < g.ops.size(); ++i) {
      execs_[int(place[i])][i] = backends[int(place[i])]->prepare(g, int(i));
      if (requested_ == "hetero" && !execs_[0][i]) execs_[0][i] = cpu_->prepare(g, int(i));
    }
  });
  if (!st.is_ok()) return st.kind() == ErrorKind::Internal ? Status::device(st.message()) : st;
  auto executions_for = [&](const std::vector<sched::Device>& p) {
    std::vector<sched::Execution*> out;
    for (size_t i = 0; i < p.size(); ++i) out.push_back(execs_[int(p[i])][i].get());
    return out;
  };
  st = guarded("planning", [&] {
    main_ = std::make_unique<sched::Executor>(g, sched::make_plan(g, place, layouts), backends, executions_for(place));
    if (requested_ == "hetero") {
      std::vector<sched::Device> all_cpu(g.ops.size(), sched::Device::Cpu);
      cpu_only_ = std::make_unique<sched::Executor>(g, sched::make_plan(g, all_cpu, layouts), backends,
                                                    executions_for(all_cpu));
    }
    if (gpu_) {  // warm-up: every kernel compiled and launched (and tuned) once before the binary is saved
      std::vector<float> zeros(static_cast<size_t>(input_size()), 0.0f), out(static_cast<size_t>(output_size()));
      main_->run(zeros.data(), 1, out.data());
      gpu_->save_caches();
    }
  });
  if (!st.is_ok()) return st;
  // The executions copied what they need: the fp32 weights are no longer needed twice over.
  for (auto& w : model_.graph.weights) std::vector<float>().swap(w.data);
  return Status::ok();
}

const sched::Executor& Engine::executor() const { return gpu_failed_ ? *cpu_only_ : *main_; }

std::string Engine::device() const { return gpu_failed_ ? "cpu" : requested_; }

std::string Engine::fallback_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fallback_reason_;
}

std::map<std::string, std::string> Engine::placement() const {
  std::map<std::string, std::string> out;
  const auto& p = plan().placement;
  for (size_t i = 0; i < p.size(); ++i) out[model_.graph.ops[i].name] = sched::device_name(p[i]);
  return out;
}

std::string Engine::describe_plan() const {
  const sched::Layout layouts[sched::kDevices] = {cpu_->layout(), gpu_ ? gpu_->layout() : sched::gpu_layout(4)};
  std::lock_guard<std::mutex> lock(mu_);
  return plan().describe(model_.graph, layouts, {}, measured_ms_);
}

std::array<int, 3> Engine::input_shape() const {
  const auto& in = model_.graph.input;
  return {in.channels, in.height, in.width};
}

int64_t Engine::input_size() const {
  const auto s = input_shape();
  return int64_t(s[0]) * s[1] * s[2];
}

int64_t Engine::output_size() const {
  int64_t n = 1;
  for (int64_t d : output_shape()) n *= d;
  return n;
}

int Engine::threads() const { return cpu_->pool().size(); }
const char* Engine::isa_name() const { return cpu::isa_name(cpu_->isa()); }

void Engine::finish_embedding(float* v) const {
  if (model_.graph.output.l2_normalize) cpu::l2_normalize(v, dim());
}

// One run of the plan in force. A hetero engine whose OpenCL device fails mid-run reports the failure once
// (a Device-kind Status) and serves every later call on the CPU plan; engine.info says why.
Status Engine::run(const float* x, int64_t n, float* out) const {
  const bool fell_back = gpu_failed_;
  Status st = guarded("forward", [&] { executor().run(x, int(n), out); });
  if (st.is_ok() || fell_back || requested_ != "hetero" || st.kind() != ErrorKind::Device) return st;
  if (st.message().find("out of memory") != std::string::npos) return st;  // this request's size, not the device
  {
    std::lock_guard<std::mutex> lock(mu_);
    fallback_reason_ = "the OpenCL device failed during a run (" + st.message() + "); running on the CPU since";
    measured_ms_.clear();
  }
  gpu_failed_ = true;
  return Status::device(st.message() + " (this engine runs on the CPU from now on)");
}

Status Engine::forward(const float* x, int64_t n, float* out) const {
  if (n < 1) return Status::input("batch must hold at least one image, got " + std::to_string(n));
  FACERT_RETURN_IF_ERROR(check_finite_input(x, n, input_size()));
  return run(x, n, out);
}

Status Engine::preprocess(const ImageView& img, float* out) const {
  FACERT_RETURN_IF_ERROR(check_image(img));
  return guarded("preprocess", [&] { engine::preprocess(img, model_.graph.input, out, cpu_->pool()); });
}

Status Engine::embed(const ImageView& img, float* out) const { return embed_batch(&img, 1, out); }

Status Engine::embed_batch(const ImageView* imgs, int64_t n, float* out) const {
  if (output_shape().size() != 1)
    return Status::argument("this model's output is a map " + graph::shape_string(output_shape()) +
                            ", not an embedding: use forward()");
  if (n < 1) return Status::input("batch must hold at least one image, got " + std::to_string(n));
  for (int64_t i = 0; i < n; ++i) {
    Status st = check_image(imgs[i]);
    if (!st.is_ok()) return n == 1 ? st : st.with_context("image " + std::to_string(i));
  }
  std::vector<float> x;
  Status st = guarded("embed", [&] {
    x.resize(size_t(n) * input_size());
    for (int64_t i = 0; i < n; ++i) engine::preprocess(imgs[i], model_.graph.input, &x[i * input_size()], cpu_->pool());
  });
  if (!st.is_ok()) return st;
  FACERT_RETURN_IF_ERROR(run(x.data(), n, out));
  for (int64_t i = 0; i < n; ++i) finish_embedding(out + i * dim());
  return check_embeddings(out, n, dim());
}

Status Engine::profile(int runs, std::vector<double>* step_ms) const {
  if (runs < 1) return Status::argument("profile needs at least one run, got " + std::to_string(runs));
  std::vector<float> zeros(static_cast<size_t>(input_size()), 0.0f), out(static_cast<size_t>(output_size()));
  std::vector<double> ms;
  Status st = guarded("profile", [&] {
    executor().run(zeros.data(), 1, out.data());  // warm
    for (int r = 0; r < runs; ++r) executor().run(zeros.data(), 1, out.data(), &ms);
  });
  if (!st.is_ok()) return st;
  for (double& v : ms) v /= runs;
  std::lock_guard<std::mutex> lock(mu_);
  measured_ms_ = ms;
  *step_ms = ms;
  return Status::ok();
}

Status Engine::fail_gpu_after(int n) const {
  if (!gpu_) return Status::argument("this engine has no OpenCL backend");
  gpu_->fail_after(n);
  return Status::ok();
}

}  // namespace facert::engine
