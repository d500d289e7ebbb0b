// A fixed pool of worker threads owned by one Engine.
#pragma once
#include <cstdint>
#include <functional>

namespace facert::cpu {

class ThreadPool {
 public:
  // threads <= 0: the number of physical cores (falls back to hardware_concurrency). More threads than
  // the CPUs this process may run on (available_cpus) are capped there: the extra ones would only wait
  // for a core while the others spin at every layer's end. Workers are pinned to one CPU each only when
  // the environment says FACERT_PIN_THREADS=1.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;  // worker count including the calling thread

  // True while the calling thread runs inside some pool's parallel region, or under a Serial: a parallel_for
  // from here runs inline, so work splitting for several threads would only add overhead.
  static bool nested();

  // While one lives, the calling thread's parallel_for calls run inline, on that thread alone (an engine that
  // measured one thread faster for the moment: engine/thread_width.hpp).
  class Serial {
   public:
    Serial();
    ~Serial();
    Serial(const Serial&) = delete;
    Serial& operator=(const Serial&) = delete;

   private:
    bool was_;
  };

  // While one lives, the pool's workers (and a caller waiting for them) spin between parallel regions instead of
  // parking after a short spin: an inference's regions come back to back, and on a VM a parked thread's CPU
  // halts and can take tens of microseconds, in some states far more, to wake. Hold one for a whole inference,
  // not longer: a held pool keeps its CPUs busy. Holds nest and may come from several threads.
  class Hold {
   public:
    explicit Hold(ThreadPool& pool);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    ThreadPool& pool_;
  };

  // Splits [0, n) into contiguous chunks and runs fn(begin, end) on them, the calling thread
  // taking a share; returns when all are done. Safe to call from several threads at once
  // (parallel regions are serialised); a call from inside fn runs inline.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  struct Impl;
  Impl* impl_;
};

int physical_cores();
int available_cpus();  // logical CPUs in this process's affinity mask (hardware_concurrency elsewhere)

}  // namespace facert::cpu
