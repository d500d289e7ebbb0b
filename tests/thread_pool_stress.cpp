// Randomized stress of cpu::ThreadPool (tests/test_thread_pool.py builds and runs it): regions of 1..64 items,
// some with chunks slow enough that the caller sleeps waiting for a worker, some separated by pauses long enough
// that the workers sleep. Every item must run exactly once per region; a caller's lost wake-up hangs (the test's
// timeout), a worker's leaves the caller doing every item (also counted: regions a worker helped after a pause).
// Usage: thread_pool_stress THREADS SECONDS
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "cpu/thread_pool.hpp"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int threads = std::atoi(argv[1]);
  const auto budget = std::chrono::duration<double>(std::atof(argv[2]));
  facert::cpu::ThreadPool pool(threads);
  std::mt19937 rng(threads);
  long regions = 0, helped_after_pause = 0;
  bool paused = false;
  const auto caller = std::this_thread::get_id();
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < budget) {
    const int n = 1 + int(rng() % 64);
    const int busy_us = rng() % 4 == 0 ? int(rng() % 120) : 0;  // > the 50-us spin: the caller sleeps
    std::vector<std::atomic<int>> hits(n);
    std::atomic<bool> helped{false};
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
      if (std::this_thread::get_id() != caller) helped = true;
      for (int64_t i = begin; i < end; ++i) hits[i]++;
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(busy_us);
      while (std::chrono::steady_clock::now() < until) {
      }
    });
    for (int i = 0; i < n; ++i)
      if (hits[i] != 1) {
        std::printf("region %ld: item %d ran %d times\n", regions, i, int(hits[i]));
        return 1;
      }
    ++regions;
    helped_after_pause += paused && helped;
    if (rng() % 8 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));  // workers sleep
      paused = true;
    }
  }
  std::printf("%ld regions on %d threads, %ld helped by a worker after a pause\n", regions, pool.size(),
              helped_after_pause);
  return regions > 0 && (pool.size() == 1 || helped_after_pause > regions / 100) ? 0 : 1;
}
