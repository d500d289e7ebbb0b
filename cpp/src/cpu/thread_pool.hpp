// A fixed pool of worker threads owned by one Engine.
#pragma once
#include <cstdint>
#include <functional>

namespace facert::cpu {

class ThreadPool {
 public:
  // threads <= 0: the number of physical cores (falls back to hardware_concurrency).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;  // worker count including the calling thread

  // Splits [0, n) into contiguous chunks and runs fn(begin, end) on them, the calling thread
  // taking a share; returns when all are done. Safe to call from several threads at once
  // (parallel regions are serialised); a call from inside fn runs inline.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  struct Impl;
  Impl* impl_;
};

int physical_cores();

}  // namespace facert::cpu
