// ThreadPool: workers park on a condition variable after a short spin, so back-to-back layers
// (tens of microseconds each) do not pay a full futex wake-up every time.
#include "cpu/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace facert::cpu {

namespace {

// Set while a thread runs inside some pool's parallel region: a nested parallel_for runs inline.
thread_local bool t_in_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

constexpr int kSpinIterations = 20000;  // ~ tens of microseconds before a worker sleeps

struct InRegion {
  InRegion() { t_in_region = true; }
  ~InRegion() { t_in_region = false; }
};

}  // namespace

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex region_mutex;  // serialises parallel regions from different calling threads

  std::mutex mutex;  // guards the fields below together with the condition variables
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  std::atomic<uint64_t> generation{0};  // bumped once per region; workers wait for a new value
  std::atomic<int> pending{0};          // workers that have not finished the current region
  bool stopping = false;

  // The current region. Chunks are handed out through next_chunk.
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int chunks = 0;
  std::atomic<int> next_chunk{0};
  std::exception_ptr error;
  std::mutex error_mutex;

  void run_chunks() {
    InRegion guard;
    for (;;) {
      const int c = next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) break;
      const int64_t begin = n * c / chunks;
      const int64_t end = n * (c + 1) / chunks;
      try {
        (*fn)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      for (int i = 0; g == seen && i < kSpinIterations; ++i) {
        cpu_relax();
        g = generation.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex);
        work_cv.wait(lock, [&] { return stopping || generation.load() != seen; });
        if (stopping) return;
        g = generation.load();
      }
      seen = g;
      run_chunks();
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        done_cv.notify_one();
      }
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(new Impl) {
  const int count = threads <= 0 ? physical_cores() : threads;
  for (int i = 1; i < count; ++i) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->work_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

int ThreadPool::size() const { return static_cast<int>(impl_->workers.size()) + 1; }

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n == 1 || impl_->workers.empty() || t_in_region) {
    fn(0, n);
    return;
  }
  Impl& s = *impl_;
  std::lock_guard<std::mutex> region(s.region_mutex);
  s.fn = &fn;
  s.n = n;
  s.chunks = static_cast<int>(std::min<int64_t>(n, size()));
  s.next_chunk.store(0, std::memory_order_relaxed);
  s.error = nullptr;
  s.pending.store(static_cast<int>(s.workers.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.generation.fetch_add(1, std::memory_order_release);
  }
  s.work_cv.notify_all();
  s.run_chunks();
  // Every worker must leave run_chunks before fn (a caller's stack object) goes out of scope.
  for (int i = 0; s.pending.load(std::memory_order_acquire) != 0 && i < kSpinIterations; ++i) cpu_relax();
  if (s.pending.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(s.mutex);
    s.done_cv.wait(lock, [&] { return s.pending.load() == 0; });
  }
  s.fn = nullptr;
  if (s.error) std::rethrow_exception(std::exchange(s.error, nullptr));
}

int physical_cores() {
  int logical = static_cast<int>(std::thread::hardware_concurrency());
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) logical = CPU_COUNT(&set);
  // Distinct (package, core) pairs; hyper-threads share one.
  std::ifstream info("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  std::string line;
  int package = 0;
  while (std::getline(info, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const int value = std::atoi(line.c_str() + colon + 1);
    if (key == "physical id") package = value;
    if (key == "core id") cores.emplace(package, value);
  }
  if (!cores.empty()) logical = std::min<int>(logical, static_cast<int>(cores.size()));
#endif
  return std::max(1, logical);
}

}  // namespace facert::cpu
