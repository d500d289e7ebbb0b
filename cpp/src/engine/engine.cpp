#include "engine/engine.hpp"

#include "engine/checks.hpp"

#include <cstring>
#include <exception>
#include <new>
#include <optional>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cpu/kernels.hpp"
#include "engine/costs.hpp"
#include "opencl/disk_cache.hpp"
#include "opencl/runtime.hpp"

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
  const auto t0 = std::chrono::steady_clock::now();
  cpu::Isa chosen;
  if (!cpu::parse_isa(isa, &chosen))
    return Status::argument("unknown isa '" + isa + "' (expected auto, ref, avx2, avx512 or neon)");
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
  e->requested_ = !e->gpu_ ? "cpu" : device.device;  // "auto" becomes what the scheduler chose
  Status st = guarded("building the engine", [&] { e->cpu_ = std::make_unique<cpu::CpuBackend>(threads, chosen); });
  if (!st.is_ok()) return st;
  e->width_ = std::make_unique<ThreadWidth>(e->threads());
  FACERT_RETURN_IF_ERROR(e->build(device));
  if (e->gpu_) e->gpu_->note_ms("engine_ms", opencl::ms_since(t0));
  return e;
}

// Per op: pinned to a device by the request, or -1 (the scheduler decides). cpu / gpu pin every op; hetero pins
// the named ops (and, on the CPU, ops the OpenCL backend declines); auto pins only those declined ops. An op
// named for the OpenCL device that it cannot run is refused, naming the op and the reason.
Result<std::vector<int>> Engine::resolve_placement(const opencl::DeviceRequest& request) const {
  const auto& g = model_.graph;
  const size_t nops = g.ops.size();
  const int cpu = int(sched::Device::Cpu), gpu = int(sched::Device::Gpu);
  std::vector<int> pin(nops, !gpu_ ? cpu : requested_ == "gpu" ? gpu : -1);
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
      pin[g.tensors[op.inputs[0]].producer] = cpu, pin[g.tensors[op.inputs[1]].producer] = gpu, pin[i] = gpu;
      continue;
    }
    sched::Device d;
    if (!sched::parse_device(where, &d))
      return Status::argument("placement['" + name + "'] must be 'cpu', 'gpu' or 'split', got '" + where + "'");
    pin[i] = int(d);
  }
  if (!gpu_) return pin;
  for (size_t i = 0; i < nops; ++i) {
    const std::string why = gpu_->unsupported(g, int(i));
    if (why.empty()) continue;
    if (pin[i] == gpu)
      return Status::device("op '" + g.ops[i].name + "' cannot run on the OpenCL device: " + why +
                            (requested_ == "gpu" ? " (device='hetero' runs it on the CPU)" : ""));
    pin[i] = cpu;
  }
  return pin;
}

Status Engine::build(const opencl::DeviceRequest& request) {
  auto pinned = resolve_placement(request);
  if (!pinned) {
    if (request.device != "auto") return pinned.status();
    fallback_reason_ = pinned.status().message();  // auto: an op the device cannot run
    gpu_.reset();
    requested_ = "cpu";
    pinned = std::vector<int>(model_.graph.ops.size(), int(sched::Device::Cpu));
  }
  const auto& pin = pinned.value();
  const auto& g = model_.graph;
  layouts_[0] = cpu_->layout();
  layouts_[1] = gpu_ ? gpu_->layout() : sched::gpu_layout(4);
  FACERT_RETURN_IF_ERROR(prepare_executions(pin));
  Status st = guarded("scheduling", [&] {
    std::vector<sched::Device> place(g.ops.size());
    for (size_t i = 0; i < place.size(); ++i) place[i] = pin[i] < 0 ? sched::Device::Gpu : sched::Device(pin[i]);
    if (gpu_ && std::count(pin.begin(), pin.end(), -1) > 0) place = schedule_placement(pin, request.cache_dir);
    make_executors(place);
  });
  if (!st.is_ok()) return st;
  // Executions no plan in force refers to are dropped; the fp32 weights are no longer needed twice over.
  for (int d = 0; d < sched::kDevices; ++d) {
    const bool all_kept = d == 0 ? cpu_only_ != nullptr : gpu_only_ != nullptr;
    for (size_t i = 0; i < g.ops.size() && !all_kept; ++i)
      if (main_->plan().placement[i] != sched::Device(d)) execs_[d][i].reset();
  }
  for (auto& w : model_.graph.weights) std::vector<float>().swap(w.data);
  return Status::ok();
}

// Executions: what a pinned plan uses and, for hetero, the CPU for every op (the fallback); both devices for
// every free op when the scheduler decides (it measures them). device="gpu" repacks no CPU weights.
Status Engine::prepare_executions(const std::vector<int>& pin) {
  auto& g = model_.graph;
  // A weight's fp32 copy goes once its last op is prepared, not after them all: the packed copies and the raw
  // ones then never all exist at once (peak RSS 39.6 -> 37.9 MB at 112 px, python + numpy 26.4).
  std::vector<size_t> last_use(g.weights.size(), 0);
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (int w : {g.ops[i].weight, g.ops[i].bias})
      if (w >= 0) last_use[w] = i;
  Status st = guarded("preparing the ops", [&] {
    for (int d = 0; d < sched::kDevices; ++d) execs_[d].resize(g.ops.size());
    for (size_t i = 0; i < g.ops.size(); ++i) {
      const bool want_cpu = pin[i] == 0 || pin[i] < 0 || requested_ == "hetero" || requested_ == "auto";
      const bool want_gpu = pin[i] == 1 || (pin[i] < 0 && gpu_);
      if (want_cpu) execs_[0][i] = cpu_->prepare(g, int(i));
      if (want_gpu) execs_[1][i] = gpu_->prepare(g, int(i));
      for (int w : {g.ops[i].weight, g.ops[i].bias})
        if (w >= 0 && last_use[w] == i) std::vector<float>().swap(g.weights[w].data);
    }
  });
  return st.kind() == ErrorKind::Internal ? Status::device(st.message()) : st;
}

std::vector<sched::Execution*> Engine::executions_for(const std::vector<sched::Device>& place) const {
  std::vector<sched::Execution*> out;
  for (size_t i = 0; i < place.size(); ++i) out.push_back(execs_[int(place[i])][i].get());
  return out;
}

std::unique_ptr<sched::Executor> Engine::executor_for(const std::vector<sched::Device>& place) const {
  sched::Backend* backends[sched::kDevices] = {cpu_.get(), gpu_.get()};
  return std::make_unique<sched::Executor>(model_.graph, sched::make_plan(model_.graph, place, layouts_), backends,
                                           executions_for(place));
}

// The scheduler: costs (measured or cached), every plan family predicted, then the predicted winner and each
// single-device plan run end to end — the fastest measured is kept (the guarantee). Throws like a run.
std::vector<sched::Device> Engine::schedule_placement(const std::vector<int>& pin, const std::string& cache_dir) {
  const auto& g = model_.graph;
  sched::Backend* backends[sched::kDevices] = {cpu_.get(), gpu_.get()};
  std::vector<sched::Execution*> ptrs[sched::kDevices];
  for (int d = 0; d < sched::kDevices; ++d)
    for (auto& e : execs_[d]) ptrs[d].push_back(e.get());
  CostRequest cr;
  cr.graph = &g;
  cr.backends = backends;
  cr.executions = ptrs;
  cr.layouts = layouts_;
  cr.cache_dir = opencl::resolve_cache_dir(cache_dir);
  // The model: its file's checksum (the loader verified it over every byte) and the input size it runs at (an
  // Engine(input_size=...) has other shapes, so other costs).
  std::string checksum;
  for (const auto& [key, value] : model_.metadata)
    if (key == "checksum") checksum = value;
  cr.key = std::string("costs v3|facert ") + FACERT_VERSION + "|cpu " + isa_name() + " x" + std::to_string(threads()) +
           "|" + gpu_->identity() + "|model " + checksum + " at " + std::to_string(g.input.height) + "x" +
           std::to_string(g.input.width);
  costs_ = measured_costs(cr);
  schedule_ = std::make_unique<sched::Schedule>(sched::schedule(g, costs_, layouts_, pin));
  std::vector<size_t> candidates = {schedule_->chosen};
  for (size_t f = 0; f < 2; ++f)
    if (schedule_->families[f].available && f != schedule_->chosen) candidates.push_back(f);
  std::vector<float> x(static_cast<size_t>(input_size()), 0.5f), y(static_cast<size_t>(output_size()));
  for (size_t f : candidates) {
    auto& fam = schedule_->families[f];
    auto run = executor_for(fam.placement);
    run->run(x.data(), 1, y.data());
    std::vector<double> ms;
    for (int k = 0; k < 7; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      run->run(x.data(), 1, y.data());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + 3, ms.end());
    fam.measured_ms = ms[3];  // median
  }
  for (size_t f : candidates)
    if (schedule_->families[f].measured_ms < schedule_->best().measured_ms) schedule_->chosen = f;
  const auto& fam = schedule_->families;
  if (fam[0].available && fam[1].available && std::count(pin.begin(), pin.end(), -1) == long(g.ops.size())) {
    gpu_share_ = fam[0].ms / (fam[0].ms + fam[1].ms);  // frames in flight: shares by predicted throughput
    gpu_only_ = executor_for(fam[1].placement);
    cpu_only_ = executor_for(fam[0].placement);
  }
  return schedule_->best().placement;
}

// The plan in force (+ the CPU fallback for hetero), run once on zeros: OpenCL then saves its program binary
// complete, and the first touch of every thread's scratch buffers happens here, not in the first inference (about
// 100 page faults at ~6 us each on this project's VM made a 112-px first inference twice the steady time).
void Engine::make_executors(const std::vector<sched::Device>& place) {
  if (requested_ == "auto") {  // auto reports what the scheduler chose
    const bool any_gpu = std::count(place.begin(), place.end(), sched::Device::Gpu) > 0;
    const bool any_cpu = std::count(place.begin(), place.end(), sched::Device::Cpu) > 0;
    requested_ = any_gpu && any_cpu ? "hetero" : any_gpu ? "gpu" : "cpu";
  }
  main_ = executor_for(place);
  if (schedule_) predict_ms(main_->plan(), model_.graph, costs_, &predicted_ms_);
  if (requested_ == "hetero" && !cpu_only_) cpu_only_ = executor_for(std::vector<sched::Device>(place.size()));
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::vector<float> zeros(static_cast<size_t>(input_size()), 0.0f), out(static_cast<size_t>(output_size()));
    main_->run(zeros.data(), 1, out.data());
  }
  if (gpu_only_) keep_frames_in_flight_if_faster();
  if (gpu_) gpu_->save_caches(), gpu_->note_ms("warmup_ms", opencl::ms_since(t0));
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
  std::lock_guard<std::mutex> lock(mu_);
  std::string head;
  if (schedule_ && !gpu_failed_) {
    char line[160];
    head = "scheduler (costs: " + costs_.source + "): ms per image, predicted (measured end to end):";
    for (size_t f = 0; f < schedule_->families.size(); ++f) {
      const auto& fam = schedule_->families[f];
      if (!fam.available) continue;
      std::snprintf(line, sizeof line, "  %s %.3f", fam.name.c_str(), fam.ms);
      head += line;
      if (fam.measured_ms >= 0) std::snprintf(line, sizeof line, " (measured %.3f)", fam.measured_ms), head += line;
      std::snprintf(line, sizeof line, "%s", f == schedule_->chosen ? " [chosen]" : "");
      head += line;
    }
    head += "\n";
  }
  return head + plan().describe(model_.graph, layouts_, gpu_failed_ ? std::vector<double>{} : predicted_ms_, measured_ms_);
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
int Engine::threads_in_use() const { return width_->in_use(); }
const char* Engine::isa_name() const { return cpu::isa_name(cpu_->isa()); }

void Engine::finish_embedding(float* v) const {
  if (model_.graph.output.l2_normalize) cpu::l2_normalize(v, dim());
}

// One run of the plan in force. A hetero engine whose OpenCL device fails mid-run reports the failure once
// (a Device-kind Status) and serves every later call on the CPU plan; engine.info says why.
Status Engine::run(const float* x, int64_t n, float* out) const {
  const bool fell_back = gpu_failed_;
  if (n == 1 && !executor().plan().uses(sched::Device::Gpu) && threads() > 1) {
    // One image on the CPU alone: at the width measured faster (thread_width.hpp), and timed for that measure.
    const int width = width_->pick();
    const auto t0 = std::chrono::steady_clock::now();
    const Status st = guarded("forward", [&] {
      std::optional<cpu::ThreadPool::Serial> serial;
      std::optional<cpu::ThreadPool::Hold> hold;  // the plan's regions come back to back: no parking between
      if (width == 1) serial.emplace();
      else hold.emplace(cpu_->pool());
      executor().run(x, 1, out);
    });
    if (st.is_ok())
      width_->record(width, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return st;
  }
  Status st = n >= 2 && frames_in_flight_ && !fell_back ? run_frames_in_flight(x, n, out)
                                                : guarded("forward", [&] {
                                                    std::optional<cpu::ThreadPool::Hold> hold;  // CPU plans only
                                                    if (!executor().plan().uses(sched::Device::Gpu)) hold.emplace(cpu_->pool());
                                                    executor().run(x, int(n), out);
                                                  });
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

// Frames in flight only where measured faster than the plan in force on a small batch (the prediction assumes
// two independent devices; PoCL shares the CPU backend's cores, and then it is slower). Throws like a run.
void Engine::keep_frames_in_flight_if_faster() {
  constexpr int kFrames = 8;
  std::vector<float> x(static_cast<size_t>(kFrames * input_size()), 0.5f), y(static_cast<size_t>(kFrames * output_size()));
  auto time = [&](auto&& fn) {
    std::vector<double> ms;
    for (int r = 0; r < 4; ++r) {  // the first run warms (and tunes) the batch shapes; the median of the rest
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      if (r) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[1] / kFrames;
  };
  const double shared = time([&] {
    const Status st = run_frames_in_flight(x.data(), kFrames, y.data());
    if (!st.is_ok()) throw opencl::Error(opencl::ErrorKind::Runtime, st.message());
  });
  const double alone = time([&] { main_->run(x.data(), kFrames, y.data()); });
  for (auto& f : schedule_->families)
    if (f.name == "frames in flight") f.measured_ms = shared;
  stream_alone_ms_ = alone;
  frames_in_flight_ = shared < alone;
}

// Frames in flight: whole images shared out in proportion to each device's predicted throughput, the OpenCL
// share as one batch on a second thread (it mostly waits on the queue) while this thread runs the CPU share.
Status Engine::run_frames_in_flight(const float* x, int64_t n, float* out) const {
  const int64_t on_gpu = std::min<int64_t>(n, std::max<int64_t>(0, int64_t(gpu_share_ * double(n) + 0.5)));
  const int64_t on_cpu = n - on_gpu;
  Status gpu_status;
  std::thread worker;
  if (on_gpu) {
    worker = std::thread([&] {
      gpu_status = guarded("forward", [&] { gpu_only_->run(x + on_cpu * input_size(), int(on_gpu), out + on_cpu * output_size()); });
    });
  }
  Status cpu_status = on_cpu ? guarded("forward", [&] { cpu_only_->run(x, int(on_cpu), out); }) : Status::ok();
  if (worker.joinable()) worker.join();
  return gpu_status.is_ok() ? cpu_status : gpu_status;
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

Status Engine::forward_frames_in_flight(const float* x, int64_t n, float* out) const {
  if (!gpu_only_) return Status::argument("this engine cannot share frames across devices (no scheduler, or an op "
                                          "only one device runs)");
  return run_frames_in_flight(x, n, out);
}

Status Engine::fail_gpu_after(int n) const {
  if (!gpu_) return Status::argument("this engine has no OpenCL backend");
  gpu_->fail_after(n);
  return Status::ok();
}

}  // namespace facert::engine
