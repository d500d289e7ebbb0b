// How many of its CPU threads an engine uses for one image: all of them, or one where one measures faster.
// Threads do not always pay: frames far apart leave the cores idle, and on this project's VM a 112-px inference
// 33 ms after the last took 1.17 ms on two threads against 0.81 on one (back to back: 0.28 against 0.46), and
// two cores coupled slowly (a 380-ns round trip) ran 1.15x one thread's time. So the engine times every inference
// of one image, the width in use on every inference and the other on every kProbeEvery-th, and keeps whichever is
// faster by a margin: the width in use judged by the median of its last kWindow times, the other by its last
// kProbes (one slow outlier must not flip it: with a moving average, a single 2-ms hiccup sent a two-thread engine
// to one thread for the next 128 runs; older probes would hold on to how things were). Thread-safe.
#pragma once
#include <mutex>

namespace facert::engine {

class ThreadWidth {
 public:
  static constexpr int kProbeEvery = 128;  // one inference in this many runs the other width (< 0.5% in steady use)
  static constexpr int kWindow = 8;        // times kept per width
  static constexpr int kProbes = 3;        // ... of which the other width's judge
  static constexpr double kMargin = 0.9;   // switch when the other width's time is under this share of the current

  explicit ThreadWidth(int threads) : threads_(threads) {}
  int pick();                         // the thread count for the next inference (1 or threads)
  void record(int width, double ms);  // how long that inference took
  int in_use() const;                 // the width inferences run at now

 private:
  int index(int width) const { return width == threads_ ? 1 : 0; }
  double median(int i, int last) const;  // of width i's last (up to) `last` times; < 0: none yet

  const int threads_;
  mutable std::mutex mu_;
  double ms_[2][kWindow] = {};  // [one thread, all threads]: the last times, a ring
  int kept_[2] = {0, 0}, next_[2] = {0, 0};
  int best_ = 1;
  long runs_ = 0;
};

}  // namespace facert::engine
