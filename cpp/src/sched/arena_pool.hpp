// Per-call activation arenas: a small free-list so concurrent calls never share activations and
// sequential calls reuse memory instead of allocating per image.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace facert::sched {

class ArenaPool {
 public:
  explicit ArenaPool(int64_t floats) : floats_(floats) {}

  class Lease {
   public:
    Lease(ArenaPool* pool, std::unique_ptr<std::vector<float>> buf);
    ~Lease();
    Lease(Lease&&) = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    float* data() const;  // 64-byte aligned

   private:
    ArenaPool* pool_;
    std::unique_ptr<std::vector<float>> buf_;
  };

  Lease acquire();  // may throw std::bad_alloc (callers turn it into a Status)
  int64_t floats() const { return floats_; }

 private:
  friend class Lease;
  void release(std::unique_ptr<std::vector<float>> buf);
  static constexpr size_t kMaxKept = 8;
  const int64_t floats_;
  std::mutex mu_;
  std::vector<std::unique_ptr<std::vector<float>>> free_;
};

}  // namespace facert::sched
