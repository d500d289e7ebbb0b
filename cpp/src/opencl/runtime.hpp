// One OpenCL device in use: context, in-order queue, the kernels program (from the binary cache or built
// from the embedded sources), kernel objects, buffers, and launches with tuned work-group sizes.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "opencl/cl_api.hpp"
#include "opencl/devices.hpp"
#include "opencl/disk_cache.hpp"
#include "opencl/error.hpp"
#include "opencl/tuning.hpp"

namespace facert::opencl {

// Milliseconds since t0 (the creation-time figures in RuntimeStats and engine.info).
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct RuntimeOptions {
  Precision precision = Precision::Fp32;
  std::string cache_dir;  // "" = the default user cache dir (see resolve_cache_dir)
  bool tune = true;       // tune work-group sizes on first use of a (kernel, shape)
  std::string extra_build_options;  // appended to the variant's options (part of the cache key)
};

struct RuntimeStats {
  bool program_from_cache = false;
  std::string cache_miss_reason;  // why the binary cache was not used
  double context_ms = 0;          // clCreateContext + clCreateCommandQueue
  double program_ms = 0;          // program creation + build time
  bool program_saved = false;
  std::string cache_dir;
  std::string build_options;
};

class Buffer {
 public:
  Buffer() = default;
  Buffer(const Api* api, cl_mem mem, size_t bytes) : api_(api), mem_(mem), bytes_(bytes) {}
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();
  cl_mem get() const { return mem_; }
  size_t bytes() const { return bytes_; }

 private:
  const Api* api_ = nullptr;
  cl_mem mem_ = nullptr;
  size_t bytes_ = 0;
};

class Runtime {
 public:
  Runtime(const DeviceInfo& device, const RuntimeOptions& options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const DeviceInfo& device() const { return device_; }
  Precision precision() const { return options_.precision; }
  size_t storage_bytes() const { return options_.precision == Precision::Fp16 ? 2 : 4; }
  const RuntimeStats& stats() const { return stats_; }
  const TuningTable& tuning() const { return *tuning_; }

  Buffer buffer(size_t bytes, const void* init = nullptr);
  void write(const Buffer& b, const void* src, size_t bytes);
  void read(const Buffer& b, void* dst, size_t bytes);
  void finish();
  // For the executor: a region of a buffer as its own cl_mem (origin a multiple of the device's base
  // alignment); copies that do not block, the read returning an event the host waits on; submission.
  Buffer sub_buffer(const Buffer& b, size_t origin, size_t bytes);
  void write_async(cl_mem dst, size_t offset, const void* src, size_t bytes);
  cl_event read_async(cl_mem src, size_t offset, void* dst, size_t bytes);
  void wait_and_release(cl_event e);
  void flush();

  cl_kernel kernel(const std::string& name);  // created once, owned by the runtime
  template <typename... Args>
  void set_args(cl_kernel k, const Args&... args) {
    cl_uint i = 0;
    (set_arg(k, i++, args), ...);
  }
  // Enqueues k over `global` (dims with size 0 are unused). tunable: the kernel bound-checks dims 0 and 1,
  // so the global size there may be rounded up to a tuned local size.
  void launch(cl_kernel k, const std::string& name, const WorkSize& global, bool tunable);

  // Stores the program binary if it was built from source. Call after every kernel has been launched once:
  // PoCL compiles kernels at first launch and only a binary taken afterwards spares that work next time.
  void save_program_if_built();
  void save_tuning() { tuning_->save_if_changed(); }

 private:
  void set_arg(cl_kernel k, cl_uint i, const Buffer& b);
  void set_arg(cl_kernel k, cl_uint i, int v);
  void set_arg(cl_kernel k, cl_uint i, cl_mem m);
  void build_program();
  bool load_cached_program(const std::string& key);
  WorkSize tune(cl_kernel k, const WorkSize& global, int dims);
  void enqueue(cl_kernel k, const WorkSize& global, const WorkSize& local, int dims);

  const Api& api_;
  DeviceInfo device_;
  RuntimeOptions options_;
  RuntimeStats stats_;
  DiskCache program_cache_;
  std::unique_ptr<TuningTable> tuning_;
  std::string program_key_;
  bool built_from_source_ = false;
  cl_context context_ = nullptr;
  cl_command_queue queue_ = nullptr;
  cl_program program_ = nullptr;
  std::mutex kernels_mutex_;
  std::map<std::string, cl_kernel> kernels_;
};

}  // namespace facert::opencl
