#include "opencl/runtime.hpp"

#include <algorithm>

#include "opencl/kernel_sources.hpp"

namespace facert::opencl {
namespace {

const Api& require_api() {
  const ApiLoad& load = load_api();
  if (!load.api) throw Error(ErrorKind::Unavailable, load.reason);
  return *load.api;
}

}  // namespace

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (mem_) api_->ReleaseMemObject(mem_);
    api_ = o.api_;
    mem_ = o.mem_;
    bytes_ = o.bytes_;
    o.mem_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Buffer::~Buffer() {
  if (mem_) api_->ReleaseMemObject(mem_);
}

Runtime::Runtime(const DeviceInfo& device, const RuntimeOptions& options)
    : api_(require_api()),
      device_(device),
      options_(options),
      program_cache_(resolve_cache_dir(options.cache_dir), "programs") {
  stats_.cache_dir = resolve_cache_dir(options.cache_dir);
  stats_.build_options = build_options(device_, options_.precision);
  if (!options_.extra_build_options.empty())
    stats_.build_options += (stats_.build_options.empty() ? "" : " ") + options_.extra_build_options;
  tuning_ = std::make_unique<TuningTable>(
      stats_.cache_dir, device_.cache_identity() + "|" + program_source_hash() + "|" + stats_.build_options, device_);
  const cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                         reinterpret_cast<cl_context_properties>(device_.platform), 0};
  cl_int rc = CL_SUCCESS;
  const auto t0 = std::chrono::steady_clock::now();
  context_ = api_.CreateContext(props, 1, &device_.id, nullptr, nullptr, &rc);
  check(rc, "clCreateContext");
  queue_ = api_.CreateCommandQueue(context_, device_.id, 0, &rc);
  if (rc != CL_SUCCESS) {
    api_.ReleaseContext(context_);
    check(rc, "clCreateCommandQueue");
  }
  stats_.context_ms = ms_since(t0);
  try {
    build_program();
  } catch (...) {
    api_.ReleaseCommandQueue(queue_);
    api_.ReleaseContext(context_);
    throw;
  }
}

Runtime::~Runtime() {
  for (auto& [name, k] : kernels_) api_.ReleaseKernel(k);
  if (program_) api_.ReleaseProgram(program_);
  if (queue_) api_.ReleaseCommandQueue(queue_);
  if (context_) api_.ReleaseContext(context_);
}

void Runtime::build_program() {
  const auto t0 = std::chrono::steady_clock::now();
  program_key_ = "program v1|" + device_.cache_identity() + "|" + program_source_hash() + "|" + stats_.build_options;
  if (load_cached_program(program_key_)) {
    stats_.program_from_cache = true;
    stats_.program_ms = ms_since(t0);
    return;
  }
  const std::string& source = program_source();
  const char* text = source.c_str();
  const size_t length = source.size();
  cl_int rc = CL_SUCCESS;
  program_ = api_.CreateProgramWithSource(context_, 1, &text, &length, &rc);
  check(rc, "clCreateProgramWithSource");
  rc = api_.BuildProgram(program_, 1, &device_.id, stats_.build_options.c_str(), nullptr, nullptr);
  if (rc != CL_SUCCESS) {
    size_t size = 0;
    api_.GetProgramBuildInfo(program_, device_.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
    std::string log(size, '\0');
    if (size) api_.GetProgramBuildInfo(program_, device_.id, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr);
    api_.ReleaseProgram(program_);
    program_ = nullptr;
    if (is_out_of_memory(rc)) check(rc, "clBuildProgram");
    throw Error(ErrorKind::Build, "OpenCL kernels failed to build on '" + device_.name + "' with options '" +
                                      stats_.build_options + "': " + error_name(rc) + "\nbuild log:\n" + log);
  }
  built_from_source_ = true;
  stats_.program_ms = ms_since(t0);
}

bool Runtime::load_cached_program(const std::string& key) {
  std::vector<unsigned char> binary;
  if (!program_cache_.load(key, &binary, &stats_.cache_miss_reason)) return false;
  const unsigned char* data = binary.data();
  const size_t size = binary.size();
  cl_int status = CL_SUCCESS, rc = CL_SUCCESS;
  cl_program p = api_.CreateProgramWithBinary(context_, 1, &device_.id, &size, &data, &status, &rc);
  if (rc == CL_SUCCESS && status == CL_SUCCESS) {
    rc = api_.BuildProgram(p, 1, &device_.id, stats_.build_options.c_str(), nullptr, nullptr);
    if (rc == CL_SUCCESS) {
      program_ = p;
      return true;
    }
  }
  if (p) api_.ReleaseProgram(p);
  // The driver refused a checksum-valid binary (driver update in place, say): drop it, rebuild from source.
  std::remove(program_cache_.path_for(key).c_str());
  stats_.cache_miss_reason = "driver rejected the cached binary (" + error_name(rc != CL_SUCCESS ? rc : status) + ")";
  return false;
}

void Runtime::save_program_if_built() {
  if (!built_from_source_ || stats_.program_saved || !program_cache_.enabled()) return;
  size_t size = 0;
  if (api_.GetProgramInfo(program_, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) != CL_SUCCESS || !size)
    return;
  std::vector<unsigned char> binary(size);
  unsigned char* ptr = binary.data();
  if (api_.GetProgramInfo(program_, CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr) != CL_SUCCESS) return;
  stats_.program_saved = program_cache_.store(program_key_, binary);
}

Buffer Runtime::buffer(size_t bytes, const void* init) {
  cl_int rc = CL_SUCCESS;
  const cl_mem_flags flags = CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0);
  cl_mem mem = api_.CreateBuffer(context_, flags, std::max<size_t>(bytes, 16), const_cast<void*>(init), &rc);
  if (rc == -61 /* CL_INVALID_BUFFER_SIZE: over the device's max allocation */) rc = CL_MEM_OBJECT_ALLOCATION_FAILURE;
  check(rc, "clCreateBuffer");
  return Buffer(&api_, mem, bytes);
}

void Runtime::write(const Buffer& b, const void* src, size_t bytes) {
  check(api_.EnqueueWriteBuffer(queue_, b.get(), CL_TRUE, 0, bytes, src, 0, nullptr, nullptr), "clEnqueueWriteBuffer");
}

void Runtime::read(const Buffer& b, void* dst, size_t bytes) {
  check(api_.EnqueueReadBuffer(queue_, b.get(), CL_TRUE, 0, bytes, dst, 0, nullptr, nullptr), "clEnqueueReadBuffer");
}

void Runtime::finish() { check(api_.Finish(queue_), "clFinish"); }

Buffer Runtime::sub_buffer(const Buffer& b, size_t origin, size_t bytes) {
  const cl_buffer_region region{origin, std::max<size_t>(bytes, 16)};
  cl_int rc = CL_SUCCESS;
  cl_mem mem = api_.CreateSubBuffer(b.get(), CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &rc);
  check(rc, "clCreateSubBuffer");
  return Buffer(&api_, mem, bytes);
}

void Runtime::write_async(cl_mem dst, size_t offset, const void* src, size_t bytes) {
  check(api_.EnqueueWriteBuffer(queue_, dst, 0, offset, bytes, src, 0, nullptr, nullptr), "clEnqueueWriteBuffer");
}

cl_event Runtime::read_async(cl_mem src, size_t offset, void* dst, size_t bytes) {
  cl_event e = nullptr;
  check(api_.EnqueueReadBuffer(queue_, src, 0, offset, bytes, dst, 0, nullptr, &e), "clEnqueueReadBuffer");
  return e;
}

void Runtime::wait_and_release(cl_event e) {
  const cl_int rc = api_.WaitForEvents(1, &e);
  api_.ReleaseEvent(e);
  check(rc, "clWaitForEvents");
}

void Runtime::flush() { check(api_.Flush(queue_), "clFlush"); }

cl_kernel Runtime::kernel(const std::string& name) {
  std::lock_guard<std::mutex> lock(kernels_mutex_);
  auto it = kernels_.find(name);
  if (it != kernels_.end()) return it->second;
  cl_int rc = CL_SUCCESS;
  cl_kernel k = api_.CreateKernel(program_, name.c_str(), &rc);
  check(rc, ("clCreateKernel(" + name + ")").c_str());
  kernels_[name] = k;
  return k;
}

void Runtime::set_arg(cl_kernel k, cl_uint i, const Buffer& b) {
  cl_mem m = b.get();
  check(api_.SetKernelArg(k, i, sizeof m, &m), "clSetKernelArg");
}

void Runtime::set_arg(cl_kernel k, cl_uint i, cl_mem m) {
  check(api_.SetKernelArg(k, i, sizeof m, &m), "clSetKernelArg");
}

void Runtime::set_arg(cl_kernel k, cl_uint i, int v) {
  const cl_int x = v;
  check(api_.SetKernelArg(k, i, sizeof x, &x), "clSetKernelArg");
}

void Runtime::enqueue(cl_kernel k, const WorkSize& global, const WorkSize& local, int dims) {
  size_t g[3], l[3];
  const bool use_local = local[0] != 0;
  for (int d = 0; d < dims; ++d) {
    l[d] = use_local ? std::max<size_t>(local[d], 1) : 1;
    g[d] = (global[d] + l[d] - 1) / l[d] * l[d];
  }
  check(api_.EnqueueNDRangeKernel(queue_, k, dims, nullptr, g, use_local ? l : nullptr, 0, nullptr, nullptr),
        "clEnqueueNDRangeKernel");
}

WorkSize Runtime::tune(cl_kernel k, const WorkSize& global, int dims) {
  size_t kernel_max = device_.max_work_group_size;
  api_.GetKernelWorkGroupInfo(k, device_.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kernel_max, &kernel_max, nullptr);
  // Few candidates: on PoCL each new local size is a recompile (~0.3 s), and these cover what won on PoCL
  // (1x16, 8x1, 4x4) and the usual GPU shapes (16x4, 8x8).
  static const WorkSize candidates[] = {{0, 0, 0}, {4, 4, 1}, {8, 8, 1}, {16, 4, 1}, {1, 16, 1}, {8, 1, 1}};
  WorkSize best{0, 0, 0};
  double best_ms = 1e30;
  for (const WorkSize& c : candidates) {
    if (c[0] != 0) {
      if (c[0] * c[1] * c[2] > kernel_max || c[0] > device_.max_work_item_sizes[0] ||
          c[1] > device_.max_work_item_sizes[1])
        continue;
      if (c[0] > 2 * global[0] || (dims > 1 && c[1] > 2 * global[1])) continue;  // mostly idle work-items
    }
    enqueue(k, global, c, dims);  // first launch may compile for this local size: not timed
    finish();
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 2; ++r) enqueue(k, global, c, dims);
    finish();
    const double ms = ms_since(t0);
    if (ms < best_ms) best_ms = ms, best = c;
  }
  return best;
}

void Runtime::launch(cl_kernel k, const std::string& name, const WorkSize& global, bool tunable) {
  const int dims = global[2] ? 3 : global[1] ? 2 : 1;
  WorkSize local{0, 0, 0};
  if (tunable) {
    const std::string key = name + ":" + std::to_string(global[0]) + "," + std::to_string(global[1]) + "," +
                            std::to_string(global[2]);
    if (!tuning_->find(key, &local) && options_.tune) {
      local = tune(k, global, dims);
      tuning_->insert(key, local);
    }
    if (local[0] != 0) {
      try {
        enqueue(k, global, local, dims);
        return;
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::OutOfMemory) throw;
        // A stored size the kernel cannot take (over CL_KERNEL_WORK_GROUP_SIZE, a driver update): drop it
        // and retune, rather than failing this launch forever.
        tuning_->erase(key);
        local = options_.tune ? tune(k, global, dims) : WorkSize{0, 0, 0};
        if (options_.tune) tuning_->insert(key, local);
      }
    }
  }
  enqueue(k, global, local, dims);
}

}  // namespace facert::opencl
