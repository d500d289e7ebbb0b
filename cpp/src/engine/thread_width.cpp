#include "engine/thread_width.hpp"

#include <algorithm>

namespace facert::engine {

double ThreadWidth::median(int i, int last) const {
  const int n = std::min(kept_[i], last);
  if (n == 0) return -1;
  double v[kWindow];
  for (int j = 0; j < n; ++j) v[j] = ms_[i][(next_[i] - 1 - j + kWindow) % kWindow];  // newest first
  std::nth_element(v, v + n / 2, v + n);
  return v[n / 2];
}

int ThreadWidth::pick() {
  if (threads_ <= 1) return 1;
  std::lock_guard<std::mutex> lock(mu_);
  const int other = 1 - best_;
  // The other width from the fifth inference until it has a time, then every kProbeEvery-th.
  const long run = runs_++;
  const bool probe = kept_[other] == 0 ? run >= 4 : run % kProbeEvery == kProbeEvery - 1;
  return (probe ? other : best_) ? threads_ : 1;
}

void ThreadWidth::record(int width, double ms) {
  if (threads_ <= 1) return;
  std::lock_guard<std::mutex> lock(mu_);
  const int i = index(width);
  ms_[i][next_[i]] = ms;
  next_[i] = (next_[i] + 1) % kWindow;
  kept_[i] = std::min(kept_[i] + 1, kWindow);
  const int other = 1 - best_;
  const double now = median(best_, kWindow), alternative = median(other, kProbes);
  if (alternative < 0 || now < 0 || alternative >= kMargin * now) return;
  best_ = other;  // its times so far were probes, far apart: from now on, only the latest counts
  ms_[other][0] = ms_[other][(next_[other] - 1 + kWindow) % kWindow];
  kept_[other] = next_[other] = 1;
}

int ThreadWidth::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return best_ ? threads_ : 1;
}

}  // namespace facert::engine
