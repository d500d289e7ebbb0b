#include "sched/backend.hpp"

#include <stdexcept>

namespace facert::sched {

const char* device_name(Device d) { return d == Device::Cpu ? "cpu" : "gpu"; }

bool parse_device(const std::string& name, Device* out) {
  if (name == "cpu") return *out = Device::Cpu, true;
  if (name == "gpu") return *out = Device::Gpu, true;
  return false;
}

Layout cpu_layout() {
  Layout l;
  l.name = "NCHW";
  l.alignment = 64;  // AVX-512-safe starts
  l.bytes = [](const std::vector<int64_t>& shape) {
    int64_t n = sizeof(float);
    for (int64_t d : shape) n *= d;
    return n;
  };
  l.slice_offset = [](const std::vector<int64_t>& shape, int64_t channel) {
    return channel * shape[1] * shape[2] * int64_t(sizeof(float));
  };
  l.writes_slices = [](graph::OpType) { return true; };  // every CPU op writes one contiguous (C, H, W) block
  return l;
}

Layout gpu_layout(int storage_bytes) {
  Layout l;
  l.name = storage_bytes == 2 ? "NC4HW4 half" : "NC4HW4";
  // Sub-buffer origins must honour CL_DEVICE_MEM_BASE_ADDR_ALIGN; 4 KiB covers every driver seen.
  l.alignment = 4096;
  l.bytes = [storage_bytes](const std::vector<int64_t>& shape) {
    if (shape.size() != 3) return shape[0] * int64_t(sizeof(float));  // flat (C): float
    return (shape[0] + 3) / 4 * shape[1] * shape[2] * 4 * storage_bytes;
  };
  l.slice_offset = [storage_bytes](const std::vector<int64_t>& shape, int64_t channel) -> int64_t {
    if (channel % 4) return -1;
    return channel / 4 * shape[1] * shape[2] * 4 * storage_bytes;
  };
  // the conv kernels take a (total, offset) block range; transfers write slices too (plan.cpp)
  l.writes_slices = [](graph::OpType t) { return t == graph::OpType::Conv2d; };
  l.reads_slices = false;
  return l;
}

void Backend::upload(const View&, const View&, const std::vector<int64_t>&, int, Arena&) {
  throw std::logic_error(std::string("no upload on the ") + device_name(device()) + " backend");
}
void* Backend::download(const View&, const View&, const std::vector<int64_t>&, int, Arena&) {
  throw std::logic_error(std::string("no download on the ") + device_name(device()) + " backend");
}
void Backend::wait(void*) {}

}  // namespace facert::sched
