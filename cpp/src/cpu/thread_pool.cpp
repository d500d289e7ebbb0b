// ThreadPool: workers park on a condition variable after a short spin, so back-to-back layers
// (tens of microseconds each) do not pay a full futex wake-up every time.
#include "cpu/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
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
#include <pthread.h>
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace facert::cpu {

namespace {

// Set while a thread runs inside some pool's parallel region: a nested parallel_for runs inline.
thread_local bool t_in_region = false;
// Set while a ThreadPool::Serial lives in this thread: its parallel_for calls run inline too.
thread_local bool t_serial = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long a waiting thread spins before it sleeps: long enough to cover the gap between two
// layers, short enough not to steal a shared core (an x86 pause alone is ~100 cycles on recent cores,
// so the bound is in time, not iterations).
constexpr auto kSpinTime = std::chrono::microseconds(50);

constexpr int kChunksPerThread = 4;

// Spins until done(), or until kSpinTime has passed while the pool is not held; returns done().
template <class Done>
bool spin_until(Done done, const std::atomic<int>& held) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (held.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() >= deadline) return done();
  }
}

struct InRegion {
  InRegion() { t_in_region = true; }
  ~InRegion() { t_in_region = false; }
};

}  // namespace

// One thread's share of a region's chunks, [next, end), on its own cache line: a thread claims from its own
// share without touching a line another core is writing, and steals from the others' only once its own is
// done. (One shared counter cost a cross-core transfer per chunk claimed.)
struct alignas(64) Share {
  std::atomic<int> next{0};
  int end = 0;
};

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex region_mutex;  // serialises parallel regions from different calling threads

  std::mutex mutex;  // guards the fields below together with the condition variables
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  alignas(64) std::atomic<uint64_t> generation{0};  // bumped once per region; workers wait for a new value
  // The region workers may still join (0: none). The caller closes it once every chunk is claimed
  // and then waits only for workers inside it: a worker that wakes late (its core busy with another
  // process) finds the region closed and does not hold the caller up.
  std::atomic<uint64_t> open_generation{0};
  alignas(64) std::atomic<int> active{0};  // workers inside the open (or just closed) region
  // Who is asleep: a region start and a worker's exit lock the mutex and notify only when someone is (a lock and
  // a notify on every region, on both sides, were two thirds of a two-thread region's cost).
  alignas(64) std::atomic<int> sleepers{0};       // workers waiting on work_cv
  std::atomic<bool> caller_sleeping{false};       // the caller waiting on done_cv
  alignas(64) std::atomic<int> held{0};           // live Holds: nobody parks while > 0
  bool stopping = false;

  // The current region: chunk c covers [n*c/chunks, n*(c+1)/chunks); shares[i] is thread i's (0: the caller).
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int chunks = 0;
  std::vector<Share> shares;
  std::exception_ptr error;
  std::mutex error_mutex;

  void run_chunk(int c) {
    try {
      (*fn)(n * c / chunks, n * (c + 1) / chunks);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }

  // Thread `self` runs its own share, then whatever the others have not claimed.
  void run_chunks(int self) {
    InRegion guard;
    const int count = int(shares.size());
    for (int k = 0; k < count; ++k) {
      Share& share = shares[(self + k) % count];
      for (int c; (c = share.next.fetch_add(1, std::memory_order_relaxed)) < share.end;) run_chunk(c);
    }
  }

  void worker_loop(int self) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = seen;
      spin_until([&] { return (g = generation.load(std::memory_order_acquire)) != seen; }, held);
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex);
        // Announced under the lock, then the generation checked (both seq_cst): a caller that bumps it and then
        // reads no sleeper is seen by the check; one that reads a sleeper locks the mutex to notify, after the wait.
        sleepers.fetch_add(1);
        work_cv.wait(lock, [&] { return stopping || generation.load() != seen || held.load() > 0; });
        sleepers.fetch_sub(1);
        if (stopping) return;
        g = generation.load();
        if (g == seen) continue;  // woken by a Hold: spin for its first region
      }
      seen = g;
      // Dekker-style handshake with the caller's close: announce, then check (both seq_cst).
      active.fetch_add(1);
      if (open_generation.load() == g) run_chunks(self);
      if (active.fetch_sub(1) == 1 && caller_sleeping.load()) {
        std::lock_guard<std::mutex> lock(mutex);
        done_cv.notify_one();
      }
    }
  }
};

// FACERT_PIN_THREADS=1: worker i runs only on the i-th CPU of the process's affinity mask (the calling
// thread, the user's own, is left alone). Off by default: on a shared machine a pinned worker cannot move
// away from a busy core. Set here, before the constructor returns, so it holds from the first region.
namespace {
void pin_to_nth_cpu(std::thread& worker, int n) {
#if defined(__linux__)
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || seen++ != n) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(worker.native_handle(), sizeof(one), &one);  // best effort: else unpinned
    return;
  }
#else
  (void)worker, (void)n;
#endif
}
}  // namespace

ThreadPool::ThreadPool(int threads) : impl_(new Impl) {
  const int count = threads <= 0 ? physical_cores() : std::min(threads, available_cpus());
  const char* pin = std::getenv("FACERT_PIN_THREADS");
  const bool pinned = pin != nullptr && std::string(pin) == "1";
  impl_->shares = std::vector<Share>(count);
  for (int i = 1; i < count; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
    if (pinned) pin_to_nth_cpu(impl_->workers.back(), i);
  }
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

bool ThreadPool::nested() { return t_in_region || t_serial; }

// A held pool's sleepers are woken at once, so that they are spinning by the first region.
ThreadPool::Hold::Hold(ThreadPool& pool) : pool_(pool) {
  Impl& s = *pool.impl_;
  if (s.held.fetch_add(1) == 0 && s.sleepers.load() > 0) {
    { std::lock_guard<std::mutex> lock(s.mutex); }
    s.work_cv.notify_all();
  }
}
ThreadPool::Hold::~Hold() { pool_.impl_->held.fetch_sub(1); }

ThreadPool::Serial::Serial() : was_(t_serial) { t_serial = true; }
ThreadPool::Serial::~Serial() { t_serial = was_; }

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n == 1 || impl_->workers.empty() || t_in_region || t_serial) {
    fn(0, n);
    return;
  }
  Impl& s = *impl_;
  std::lock_guard<std::mutex> region(s.region_mutex);
  s.fn = &fn;
  s.n = n;
  // A few chunks per thread, an even share each, the rest stolen: on a shared machine a descheduled worker
  // then delays only its current chunk, the others take the rest of its share.
  s.chunks = static_cast<int>(std::min<int64_t>(n, int64_t(size()) * kChunksPerThread));
  const int count = int(s.shares.size());
  for (int i = 0; i < count; ++i) {
    s.shares[i].next.store(s.chunks * i / count, std::memory_order_relaxed);
    s.shares[i].end = s.chunks * (i + 1) / count;
  }
  s.error = nullptr;
  const uint64_t g = s.generation.load() + 1;
  s.open_generation.store(g);
  s.generation.store(g);
  if (s.sleepers.load() > 0) {
    { std::lock_guard<std::mutex> lock(s.mutex); }  // a sleeper holds it until it waits: notify after that
    s.work_cv.notify_all();
  }
  s.run_chunks(0);
  // Every chunk is claimed: close the region, then wait for the workers inside it, which must leave
  // run_chunks before fn (a caller's stack object) goes out of scope.
  s.open_generation.store(0);
  if (!spin_until([&] { return s.active.load() == 0; }, s.held)) {
    std::unique_lock<std::mutex> lock(s.mutex);
    s.caller_sleeping.store(true);  // then active checked, as the worker's side: see sleepers
    s.done_cv.wait(lock, [&] { return s.active.load() == 0; });
    s.caller_sleeping.store(false);
  }
  s.fn = nullptr;
  if (s.error) std::rethrow_exception(std::exchange(s.error, nullptr));
}

int available_cpus() {
  int logical = static_cast<int>(std::thread::hardware_concurrency());
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) logical = CPU_COUNT(&set);
#endif
  return std::max(1, logical);
}

int physical_cores() {
  int logical = available_cpus();
#if defined(__linux__)
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
