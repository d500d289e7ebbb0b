// OpenCL executions, one file per op (opencl/exec/<op>.cpp) beside its kernels/<op>.cl: each owns its packed
// weights and enqueues its kernel on the runtime's in-order queue. Activations are NC4HW4 in the storage type
// (flat tensors float); a View's (offset, image_stride) give the channel-block slice a kernel writes.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "graph/graph.hpp"
#include "opencl/runtime.hpp"
#include "sched/backend.hpp"

namespace facert::opencl {

struct ExecContext {
  Runtime* rt = nullptr;
  std::mutex mu;  // a cl_kernel's arguments are shared state: set and enqueue under one lock
  std::atomic<int> fail_countdown{0};  // test hook: > 0 makes the countdown-th launch from now fail

  template <typename... Args>
  void launch(const char* name, const WorkSize& global, bool tunable, const Args&... args) {
    std::lock_guard<std::mutex> lock(mu);
    if (fail_countdown.load() > 0 && --fail_countdown == 0)
      throw Error(ErrorKind::Runtime, std::string("clEnqueueNDRangeKernel(") + name + ") failed: injected by the "
                                      "test hook (engine._fail_gpu_after)");
    cl_kernel k = rt->kernel(name);
    rt->set_args(k, args...);
    rt->launch(k, name, global, tunable);
  }
};

inline int blocks(int64_t c) { return int((c + 3) / 4); }
inline cl_mem mem_of(const sched::View& v) { return static_cast<cl_mem>(v.mem); }
// (offset, total) in 4-channel blocks of a (C, H, W) view: where its slice starts inside the root, and the root's
// block count per image.
struct BlockSlice {
  int offset, total;
};
BlockSlice block_slice(const sched::View& v, const std::vector<int64_t>& shape, size_t storage_bytes);
int activation_code(graph::Activation a);  // 0 none, 1 relu, 2 relu6 (kernels/storage.h)

std::unique_ptr<sched::Execution> make_conv2d(ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_maxpool2d(ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_concat(ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_global_avgpool(ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_linear(ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_prelu(ExecContext&, const graph::Graph&, const graph::Op&);
std::unique_ptr<sched::Execution> make_softmax(ExecContext&, const graph::Graph&, const graph::Op&);

std::string check_conv2d(const graph::Graph&, const graph::Op&);
std::string check_maxpool2d(const graph::Graph&, const graph::Op&);
std::string check_concat(const graph::Graph&, const graph::Op&);
std::string check_global_avgpool(const graph::Graph&, const graph::Op&);
std::string check_linear(const graph::Graph&, const graph::Op&);
std::string check_prelu(const graph::Graph&, const graph::Op&);
std::string check_softmax(const graph::Graph&, const graph::Op&);

}  // namespace facert::opencl
