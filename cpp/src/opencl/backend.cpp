#include "opencl/backend.hpp"

#include <chrono>
#include <exception>
#include <new>

#include "engine/op_table.hpp"
#include "opencl/runtime.hpp"

namespace facert::opencl {
namespace {

class DeviceArena : public sched::Arena {
 public:
  Buffer whole, staging;
  std::vector<Buffer> roots;
};

int64_t plane(const std::vector<int64_t>& shape) { return shape[1] * shape[2]; }

}  // namespace

Result<std::unique_ptr<Backend>> Backend::create(const BackendOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  RuntimeOptions ro;
  if (options.precision == "fp32") {
    ro.precision = Precision::Fp32;
  } else if (options.precision == "fp16") {
    ro.precision = Precision::Fp16;
  } else {
    return Status::argument("precision must be 'fp32' or 'fp16', got '" + options.precision + "'");
  }
  ro.cache_dir = options.cache_dir;
  try {
    const DeviceList list = enumerate_devices();
    const double enumerate_ms = ms_since(t0);
    if (list.devices.empty()) return Status::device("no OpenCL device: " + list.reason);
    const DeviceInfo* device = nullptr;
    if (options.device_index < 0) {
      device = default_device(list);
    } else if (options.device_index < static_cast<int>(list.devices.size())) {
      device = &list.devices[options.device_index];
    } else {
      return Status::device("no OpenCL device with index " + std::to_string(options.device_index) + " (" +
                            std::to_string(list.devices.size()) + " found)");
    }
    auto backend = on_runtime(std::make_shared<Runtime>(*device, ro));
    const RuntimeStats& stats = backend->runtime_->stats();
    const double create_ms = ms_since(t0);
    backend->info_ = {
        {"device", device->name},
        {"device_vendor", device->vendor},
        {"platform", device->platform_name},
        {"driver_version", device->driver_version},
        {"precision_variant", ro.precision == Precision::Fp32 ? "fp32"
                              : device->fp16                  ? "fp16 half math (cl_khr_fp16)"
                                                              : "fp16 half storage, float math"},
        {"program_from_cache", stats.program_from_cache ? "true" : "false"},
        {"enumerate_ms", std::to_string(enumerate_ms)},
        {"context_ms", std::to_string(stats.context_ms)},
        {"program_build_ms", std::to_string(stats.program_ms)},
        {"create_ms", std::to_string(create_ms)},
        {"cache_dir", stats.cache_dir},
    };
    return backend;
  } catch (const Error& e) {
    return Status::device(e.what());
  } catch (const std::bad_alloc&) {
    return Status::device("out of host memory while preparing the OpenCL backend");
  }
}

std::unique_ptr<Backend> Backend::on_runtime(std::shared_ptr<Runtime> runtime) {
  std::unique_ptr<Backend> backend(new Backend());
  backend->precision_ = runtime->precision() == Precision::Fp16 ? "fp16" : "fp32";
  backend->runtime_ = std::move(runtime);
  backend->ctx_.rt = backend->runtime_.get();
  backend->layout_ = sched::gpu_layout(int(backend->runtime_->storage_bytes()));
  return backend;
}

Backend::~Backend() = default;

std::string Backend::identity() const {
  return runtime_->device().cache_identity() + "|" + precision_;
}

std::string Backend::unsupported(const graph::Graph& g, int op) const {
  return engine::op_entry(g.ops[op].type).gpu_check(g, g.ops[op]);
}

std::unique_ptr<sched::Execution> Backend::prepare(const graph::Graph& g, int op) {
  return engine::op_entry(g.ops[op].type).gpu(ctx_, g, g.ops[op]);
}

std::unique_ptr<sched::Arena> Backend::arena(const sched::Plan& plan, const graph::Graph&, int capacity) {
  const int d = int(sched::Device::Gpu);
  // Refuse up front what the device cannot hold in one buffer: drivers differ in how (and whether) they
  // report it, and a clear message beats a late CL error.
  const uint64_t max_alloc = runtime_->device().max_alloc_bytes;
  const uint64_t need = uint64_t(plan.arena_bytes[d]) * uint64_t(capacity);
  if (max_alloc && need > max_alloc)
    throw Error(ErrorKind::OutOfMemory,
                "OpenCL device out of memory: batch " + std::to_string(capacity) + " needs " +
                    std::to_string(need >> 20) + " MiB in one buffer, the device allows " +
                    std::to_string(max_alloc >> 20) + " MiB; use smaller batches");
  auto a = std::make_unique<DeviceArena>();
  a->capacity = capacity;
  a->whole = runtime_->buffer(size_t(need));
  a->staging = runtime_->buffer(size_t(plan.staging_bytes) * capacity);
  a->views.resize(plan.tensors.size());
  std::vector<int> root_buffer(plan.tensors.size(), -1);
  for (size_t t = 0; t < plan.tensors.size(); ++t) {
    const auto& pt = plan.tensors[t];
    if (pt.device != sched::Device::Gpu || pt.alias_of >= 0) continue;
    root_buffer[t] = int(a->roots.size());
    a->roots.push_back(runtime_->sub_buffer(a->whole, size_t(pt.offset) * capacity, size_t(pt.bytes) * capacity));
  }
  for (size_t t = 0; t < plan.tensors.size(); ++t) {
    if (plan.tensors[t].device != sched::Device::Gpu) continue;
    int r = int(t);
    int64_t slice = 0;
    while (plan.tensors[r].alias_of >= 0) slice += plan.tensors[r].slice_bytes, r = plan.tensors[r].alias_of;
    a->views[t].mem = a->roots[root_buffer[r]].get();
    a->views[t].offset = slice;
    a->views[t].image_stride = plan.tensors[r].bytes;
  }
  return a;
}

void Backend::upload(const sched::View& host, const sched::View& dst, const std::vector<int64_t>& shape, int n,
                     sched::Arena& arena) {
  Runtime& rt = *runtime_;
  if (shape.size() != 3) {  // flat tensors are float on both sides
    const size_t bytes = size_t(shape[0]) * sizeof(float);
    for (int i = 0; i < n; ++i)
      rt.write_async(mem_of(dst), size_t(dst.offset + i * dst.image_stride),
                     static_cast<const char*>(host.host) + i * host.image_stride, bytes);
    return;
  }
  auto& staging = static_cast<DeviceArena&>(arena).staging;
  const size_t bytes = size_t(shape[0] * plane(shape)) * sizeof(float);
  for (int i = 0; i < n; ++i)
    rt.write_async(staging.get(), i * bytes, static_cast<const char*>(host.host) + i * host.image_stride, bytes);
  const BlockSlice s = block_slice(dst, shape, rt.storage_bytes());
  const int cb = blocks(shape[0]), hw = int(plane(shape));
  ctx_.launch("nchw_to_nc4hw4", {size_t(hw), size_t(n) * cb, 0}, false, staging, mem_of(dst), int(shape[0]), cb, hw,
              s.total, s.offset);
}

void* Backend::download(const sched::View& src, const sched::View& host, const std::vector<int64_t>& shape, int n,
                        sched::Arena& arena) {
  Runtime& rt = *runtime_;
  cl_event last = nullptr;
  auto read = [&](cl_mem from, size_t offset, char* to, size_t bytes) {
    if (last) rt.wait_and_release(last), last = nullptr;  // in-order queue: only the last one needs an event
    last = rt.read_async(from, offset, to, bytes);
  };
  if (shape.size() != 3) {
    const size_t bytes = size_t(shape[0]) * sizeof(float);
    for (int i = 0; i < n; ++i)
      read(mem_of(src), size_t(src.offset + i * src.image_stride), static_cast<char*>(host.host) + i * host.image_stride,
           bytes);
    return last;
  }
  auto& staging = static_cast<DeviceArena&>(arena).staging;
  const BlockSlice s = block_slice(src, shape, rt.storage_bytes());
  const int cb = blocks(shape[0]), hw = int(plane(shape));
  ctx_.launch("nc4hw4_to_nchw", {size_t(hw), size_t(n) * cb, 0}, false, mem_of(src), staging, int(shape[0]), cb, hw,
              s.total, s.offset);
  const size_t bytes = size_t(shape[0]) * hw * sizeof(float);
  for (int i = 0; i < n; ++i) read(staging.get(), i * bytes, static_cast<char*>(host.host) + i * host.image_stride, bytes);
  return last;
}

void Backend::wait(void* ticket) { runtime_->wait_and_release(static_cast<cl_event>(ticket)); }
void Backend::flush() { runtime_->flush(); }

void Backend::finish() {
  runtime_->finish();
  std::lock_guard<std::mutex> lock(ctx_.mu);
  runtime_->save_tuning();  // new (kernel, shape) pairs tuned during this run, if any
}

void Backend::save_caches() {
  std::lock_guard<std::mutex> lock(ctx_.mu);
  runtime_->save_program_if_built();
  runtime_->save_tuning();
}

std::string unavailable_reason() {
  const DeviceList list = enumerate_devices();
  return list.devices.empty() ? list.reason : std::string();
}

}  // namespace facert::opencl
