#include "sched/arena_pool.hpp"

#include <cstdint>

namespace facert::sched {

namespace {
constexpr int64_t kAlignFloats = 16;
}

ArenaPool::Lease::Lease(ArenaPool* pool, std::unique_ptr<std::vector<float>> buf)
    : pool_(pool), buf_(std::move(buf)) {}

ArenaPool::Lease::~Lease() {
  if (buf_) pool_->release(std::move(buf_));
}

float* ArenaPool::Lease::data() const {
  auto addr = reinterpret_cast<uintptr_t>(buf_->data());
  const uintptr_t mask = kAlignFloats * sizeof(float) - 1;
  return reinterpret_cast<float*>((addr + mask) & ~mask);
}

ArenaPool::Lease ArenaPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      auto buf = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(buf));
    }
  }
  // Over-allocate so data() can align the start.
  return Lease(this, std::make_unique<std::vector<float>>(size_t(floats_ + kAlignFloats)));
}

void ArenaPool::release(std::unique_ptr<std::vector<float>> buf) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() < kMaxKept) free_.push_back(std::move(buf));
}

}  // namespace facert::sched
