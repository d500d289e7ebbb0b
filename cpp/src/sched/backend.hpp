// The interface every device implements, per op (MNN's Backend/Execution split): a backend says which ops it
// supports, prepares one Execution per op (weights repacked, kernels built), states the byte size of a tensor
// in its layout and how a concat slice is addressed (so the one memory planner in sched/plan.cpp can size its
// arena), gives arenas for a plan, and — the OpenCL one — moves tensors to and from the host.
// Executions throw on failure (opencl::Error, std::bad_alloc); the engine turns that into a Status.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace facert::sched {

enum class Device : int { Cpu = 0, Gpu = 1 };
constexpr int kDevices = 2;
const char* device_name(Device d);  // "cpu" | "gpu"
bool parse_device(const std::string& name, Device* out);

// Where one tensor of one call lives on its device. Image i starts `image_stride` bytes after image 0.
// CPU: `host` is image 0. OpenCL: `mem` is the cl_mem of the tensor's root (a concat output or the tensor
// itself), `offset` the bytes of this tensor's slice inside one image of that root.
struct View {
  void* host = nullptr;
  void* mem = nullptr;
  int64_t offset = 0;
  int64_t image_stride = 0;
};

// One op prepared for one device.
class Execution {
 public:
  virtual ~Execution() = default;
  // inputs: one view per graph input of the op, out: its output; n images. CPU: done on return.
  // OpenCL: enqueued (the executor waits at device boundaries).
  virtual void run(const View* inputs, const View& out, int n) = 0;
};

// How a device lays out tensors, as the planner needs it (data, so plans can be made with no device present).
struct Layout {
  // bytes of one image of a tensor of this shape
  std::function<int64_t(const std::vector<int64_t>& shape)> bytes;
  // byte offset of channel `channel` inside one image of a (C, H, W) concat output, or -1 when an input
  // starting there cannot live in place (the OpenCL layout needs a multiple of 4 channels)
  std::function<int64_t(const std::vector<int64_t>& concat_shape, int64_t channel)> slice_offset;
  // which producers can write their output into a concat slice
  std::function<bool(graph::OpType)> writes_slices;
  bool reads_slices = true;  // ops read an input that lives in a slice (OpenCL kernels: no, only transfers do)
  int64_t alignment = 64;  // bytes, for every root tensor's offset
  std::string name;        // "NCHW" | "NC4HW4 fp16" ...
};
Layout cpu_layout();
Layout gpu_layout(int storage_bytes);  // NC4HW4 in float (4) or half (2) storage; flat tensors float

// Device memory for `capacity` images of one plan on one device; the executor keeps a pool of them.
class Arena {
 public:
  virtual ~Arena() = default;
  int capacity = 0;
  std::vector<View> views;  // per plan tensor on this device (others: empty)
};

struct Plan;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const Layout& layout() const = 0;
  // Why this backend cannot run op `op` ("" = it can).
  virtual std::string unsupported(const graph::Graph& g, int op) const = 0;
  // Repacks weights and builds kernels for one op; the graph's weights must still be there.
  virtual std::unique_ptr<Execution> prepare(const graph::Graph& g, int op) = 0;
  // Memory and views for every plan tensor this device holds.
  virtual std::unique_ptr<Arena> arena(const Plan& plan, const graph::Graph& g, int capacity) = 0;
  // The most images one arena of this plan can hold here (the executor splits larger batches).
  virtual int max_images(const Plan&) const { return 1 << 20; }
  // Runs fn(i) for every image i < n of a plan that runs on this device alone; a backend may run images
  // concurrently (the CPU: whole images per thread). Default: in order, on the calling thread.
  virtual void for_each_image(int n, const std::function<void(int)>& fn) {
    for (int i = 0; i < n; ++i) fn(i);
  }

  // Transfers (the OpenCL backend; the host is the CPU backend's memory). `shape` is per image.
  // upload: host NCHW float -> this device's layout, written into dst (a slice where dst is one).
  virtual void upload(const View& host, const View& dst, const std::vector<int64_t>& shape, int n, Arena& arena);
  // download: this device -> host NCHW float; returns a ticket to wait for before the host reads.
  virtual void* download(const View& src, const View& host, const std::vector<int64_t>& shape, int n, Arena& arena);
  virtual void wait(void* ticket);  // waits for and releases a ticket
  virtual void flush() {}           // submit what was enqueued (so it runs while the host works)
  virtual void finish() {}          // everything enqueued has completed
};

}  // namespace facert::sched
