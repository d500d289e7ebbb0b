#include "engine/engine.hpp"

#include <cstring>
#include <exception>
#include <new>

namespace facert::engine {

namespace {

cpu::Activation to_cpu(graph::Activation a) {
  switch (a) {
    case graph::Activation::Relu: return cpu::Activation::Relu;
    case graph::Activation::Relu6: return cpu::Activation::Relu6;
    default: return cpu::Activation::None;
  }
}

// Runs run_one(arena, i) for every image i < n. The part of the batch that fills the pool evenly runs
// whole images per thread, each with its own arena: one parallel region for all of them instead of one
// per layer, so no barrier between layers. The rest (all of a batch of 1) splits each layer instead.
template <class F>
void for_each_image(cpu::ThreadPool& pool, sched::ArenaPool& arenas, int64_t n, const F& run_one) {
  const int64_t threads = pool.size();
  const int64_t whole = threads > 1 ? n - n % threads : 0;
  if (whole > 0)
    pool.parallel_for(whole, [&](int64_t begin, int64_t end) {
      auto arena = arenas.acquire();
      for (int64_t i = begin; i < end; ++i) run_one(arena.data(), i);
    });
  if (whole < n) {
    auto arena = arenas.acquire();
    for (int64_t i = whole; i < n; ++i) run_one(arena.data(), i);
  }
}

// Turns anything thrown from inside a kernel or an allocation into a Status: nothing escapes.
template <class F>
Status guarded(const char* what, F&& fn) {
  try {
    fn();
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status::internal(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Status::internal(std::string(what) + ": " + e.what());
  }
}

}  // namespace

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(const std::string& path, int threads, const std::string& isa,
                                               const opencl::DeviceRequest& device) {
  cpu::Isa chosen;
  if (!cpu::parse_isa(isa, &chosen))
    return Status::argument("unknown isa '" + isa + "' (expected auto, ref, avx2, avx512 or neon)");
  if (!cpu::isa_available(chosen))
    return Status::device(std::string("isa '") + cpu::isa_name(chosen) + "' is not available on this CPU/build");
  auto loaded = model::load_model_file(path);
  if (!loaded) return loaded.status();
  std::unique_ptr<Engine> e(new Engine());
  e->model_ = std::move(loaded).value();
  e->isa_ = chosen;
  Status st = guarded("building the engine", [&] {
    e->pool_ = std::make_unique<cpu::ThreadPool>(threads);
    e->plan_ = sched::make_cpu_plan(e->model_.graph);
    e->arenas_ = std::make_unique<sched::ArenaPool>(e->plan_.arena_floats);
  });
  if (!st.is_ok()) return st;
  auto choice = opencl::choose_device(e->model_.graph, device);  // before build_kernels frees the weights
  if (!choice) return choice.status();
  e->gpu_ = std::move(choice.value().gpu);
  e->fallback_reason_ = choice.value().fallback_reason;
  e->fallback_is_failure_ = choice.value().fallback_is_failure;
  FACERT_RETURN_IF_ERROR(e->build_kernels());
  return e;
}

Status Engine::build_kernels() {
  const auto& g = model_.graph;
  convs_.resize(g.ops.size());
  linears_.resize(g.ops.size());
  for (size_t i = 0; i < g.ops.size(); ++i) {
    const auto& op = g.ops[i];
    const float* bias = op.bias >= 0 ? g.weights[op.bias].data.data() : nullptr;
    Status st = guarded(op.name.c_str(), [&] {
      if (op.type == graph::OpType::Conv2d) {
        const auto& in = g.tensors[op.inputs[0]].shape;
        const auto& out = g.tensors[op.output].shape;
        cpu::Conv2dShape s{int(in[0]), int(in[1]), int(in[2]), int(out[0]), int(out[1]), int(out[2]),
                           op.kernel[0], op.kernel[1], op.stride[0], op.stride[1], op.pad[0], op.pad[1],
                           op.dilation[0], op.dilation[1], op.groups};
        convs_[i] = std::make_unique<cpu::Conv2d>(s, g.weights[op.weight].data.data(), bias,
                                                  to_cpu(op.activation), isa_);
      } else if (op.type == graph::OpType::Linear) {
        const auto& w = g.weights[op.weight].shape;
        linears_[i] = std::make_unique<cpu::Linear>(int(w[1]), int(w[0]), g.weights[op.weight].data.data(),
                                                    bias, to_cpu(op.activation), isa_);
      }
    });
    if (!st.is_ok()) return Status::device(st.message());
  }
  // The kernels copied what they need: the fp32 weights are no longer needed twice over.
  for (auto& w : model_.graph.weights) std::vector<float>().swap(w.data);
  return Status::ok();
}

std::array<int, 3> Engine::input_shape() const {
  const auto& in = model_.graph.input;
  return {in.channels, in.height, in.width};
}

int64_t Engine::input_size() const {
  const auto s = input_shape();
  return int64_t(s[0]) * s[1] * s[2];
}

int Engine::threads() const { return pool_->size(); }
const char* Engine::isa_name() const { return cpu::isa_name(isa_); }

void Engine::run_image(float* arena, const float* x, float* out) const {
  const auto& g = model_.graph;
  auto at = [&](int t) { return t == g.input_tensor ? const_cast<float*>(x) : arena + plan_.tensor_offset[t]; };
  for (int idx : plan_.order) {
    const auto& op = g.ops[idx];
    const auto& os = g.tensors[op.output].shape;
    float* dst = at(op.output);
    switch (op.type) {
      case graph::OpType::Conv2d:
        convs_[idx]->run(at(op.inputs[0]), dst, *pool_);
        break;
      case graph::OpType::Linear:
        linears_[idx]->run(at(op.inputs[0]), dst, 1, *pool_);
        break;
      case graph::OpType::MaxPool2d: {
        const auto& is = g.tensors[op.inputs[0]].shape;
        cpu::Pool2dShape s{int(is[0]), int(is[1]), int(is[2]), int(os[1]), int(os[2]), op.kernel[0],
                           op.kernel[1], op.stride[0], op.stride[1], op.pad[0], op.pad[1]};
        cpu::maxpool2d(s, at(op.inputs[0]), dst, isa_, *pool_);
        break;
      }
      case graph::OpType::GlobalAvgPool: {
        const auto& is = g.tensors[op.inputs[0]].shape;
        cpu::global_avgpool(at(op.inputs[0]), int(is[0]), int(is[1] * is[2]), dst, isa_, *pool_);
        break;
      }
      case graph::OpType::Concat: {
        // Aliased inputs were written in place by their producers; only the rest are copied.
        const int64_t plane = os[1] * os[2];
        int64_t channel = 0;
        for (size_t k = 0; k < op.inputs.size(); ++k) {
          const int t = op.inputs[k];
          const int64_t c = g.tensors[t].shape[0];
          if (plan_.concat_copies[idx][k]) std::memcpy(dst + channel * plane, at(t), size_t(c * plane) * 4);
          channel += c;
        }
        break;
      }
    }
  }
  std::memcpy(out, at(g.output_tensor), size_t(dim()) * sizeof(float));
}

void Engine::finish_embedding(float* v) const {
  if (model_.graph.output.l2_normalize) cpu::l2_normalize(v, dim());
}

Status Engine::forward(const float* x, int64_t n, float* out) const {
  if (n < 1) return Status::input("batch must hold at least one image, got " + std::to_string(n));
  if (gpu_) return gpu_->forward(x, int(n), out, false);
  return guarded("forward", [&] {
    const int64_t in_size = input_size();
    for_each_image(*pool_, *arenas_, n,
                   [&](float* arena, int64_t i) { run_image(arena, x + i * in_size, out + i * dim()); });
  });
}

Status Engine::preprocess(const ImageView& img, float* out) const {
  FACERT_RETURN_IF_ERROR(check_image(img));
  return guarded("preprocess", [&] { engine::preprocess(img, model_.graph.input, out, *pool_); });
}

Status Engine::embed(const ImageView& img, float* out) const { return embed_batch(&img, 1, out); }

Status Engine::embed_batch(const ImageView* imgs, int64_t n, float* out) const {
  if (n < 1) return Status::input("batch must hold at least one image, got " + std::to_string(n));
  for (int64_t i = 0; i < n; ++i) {
    Status st = check_image(imgs[i]);
    if (!st.is_ok()) return n == 1 ? st : st.with_context("image " + std::to_string(i));
  }
  if (gpu_) {  // preprocess on the CPU, then one batched network run on the device
    std::vector<float> x;
    Status st = guarded("embed", [&] {
      x.resize(size_t(n) * input_size());
      for (int64_t i = 0; i < n; ++i) engine::preprocess(imgs[i], model_.graph.input, &x[i * input_size()], *pool_);
    });
    if (!st.is_ok()) return st;
    return gpu_->forward(x.data(), int(n), out, model_.graph.output.l2_normalize);
  }
  return guarded("embed", [&] {
    for_each_image(*pool_, *arenas_, n, [&](float* arena, int64_t i) {
      // The preprocessed input lives in the arena's input slot (planned like any tensor).
      float* x = arena + plan_.tensor_offset[model_.graph.input_tensor];
      engine::preprocess(imgs[i], model_.graph.input, x, *pool_);
      run_image(arena, x, out + i * dim());
      finish_embedding(out + i * dim());
    });
  });
}

}  // namespace facert::engine
