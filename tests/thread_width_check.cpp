// engine::ThreadWidth's policy on scripted times (tests/test_thread_pool.py builds and runs it): which width it
// picks, when it probes the other, what makes it switch and what must not. Prints the first failed check.
#include <cstdio>
#include <functional>

#include "engine/thread_width.hpp"

using facert::engine::ThreadWidth;

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) std::printf("FAILED: %s\n", what), ++failures;
}
// Runs `runs` inferences; each takes time(width) ms. Returns how many ran on one thread.
int drive(ThreadWidth& w, int runs, const std::function<double(int)>& time) {
  int one = 0;
  for (int r = 0; r < runs; ++r) {
    const int width = w.pick();
    one += width == 1;
    w.record(width, time(width));
  }
  return one;
}
}  // namespace

int main() {
  {  // back to back on two good cores: two threads, one thread only as a probe now and then
    ThreadWidth w(2);
    check(w.in_use() == 2, "starts on all threads");
    const int one = drive(w, 1280, [](int width) { return width == 1 ? 0.46 : 0.28; });
    check(w.in_use() == 2, "two threads kept while faster");
    check(one >= 10 && one <= 11, "one thread only as a probe: the 5th run, then one in 128");
  }
  {  // a hiccup on two threads (a 2-ms outlier) must not send the engine to one thread
    ThreadWidth w(2);
    int r = 0;
    drive(w, 1000, [&](int width) { return width == 1 ? 0.46 : (++r % 97 == 0 ? 2.0 : 0.28); });
    check(w.in_use() == 2, "outliers on two threads do not flip it");
  }
  {  // frames far apart: two threads 1.2 ms, one 0.8: one thread from the first probe on
    ThreadWidth w(2);
    drive(w, 5, [](int width) { return width == 1 ? 0.8 : 1.2; });
    check(w.in_use() == 1, "switches to one thread at the first probe that is faster by the margin");
    const int one = drive(w, 640, [](int width) { return width == 1 ? 0.8 : 1.2; });
    check(w.in_use() == 1 && one >= 634, "stays on one thread, probing two threads one run in 128");
    // back to back again: two threads win their probes and come back within a few of them
    drive(w, 5 * ThreadWidth::kProbeEvery, [](int width) { return width == 1 ? 0.46 : 0.28; });
    check(w.in_use() == 2, "returns to two threads once their probes are faster");
  }
  {  // within the margin: no switch
    ThreadWidth w(2);
    drive(w, 1000, [](int width) { return width == 1 ? 0.30 : 0.32; });
    check(w.in_use() == 2, "a width less than 10% faster does not take over");
  }
  {  // one thread: nothing to choose
    ThreadWidth w(1);
    check(drive(w, 300, [](int) { return 1.0; }) == 300 && w.in_use() == 1, "threads=1 always runs one thread");
  }
  if (failures == 0) std::printf("all checks passed\n");
  return failures ? 1 : 0;
}
