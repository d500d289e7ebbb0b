// Greedy non-maximum suppression for the detector (MTCNN runs it ~20 times per photo on tens of boxes: in
// numpy each call cost ~70 us of interpreter overhead).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "cpu/kernels.hpp"

namespace facert::cpu {

namespace {

// numpy's minimum/maximum: NaN from either side
inline double min_nan(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b); }
inline double max_nan(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }

}  // namespace

std::vector<int64_t> nms(const double* boxes, const double* scores, int64_t n, double threshold, bool min_area) {
  const double plus = min_area ? 1.0 : 0.0;
  std::vector<double> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double* b = boxes + 4 * i;
    area[size_t(i)] = (b[2] - b[0] + plus) * (b[3] - b[1] + plus);
  }
  // highest score first, ties in index order; NaN scores last (as numpy's argsort of -scores)
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  const auto nan_last =
      std::stable_partition(order.begin(), order.end(), [&](int64_t i) { return !std::isnan(scores[i]); });
  std::stable_sort(order.begin(), nan_last, [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  std::vector<char> removed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (size_t p = 0; p < order.size(); ++p) {
    const int64_t i = order[p];
    if (removed[size_t(i)]) continue;
    keep.push_back(i);
    const double* a = boxes + 4 * i;
    for (size_t q = p + 1; q < order.size(); ++q) {
      const int64_t j = order[q];
      if (removed[size_t(j)]) continue;
      const double* b = boxes + 4 * j;
      const double w = max_nan(0.0, min_nan(a[2], b[2]) - max_nan(a[0], b[0]) + plus);
      const double h = max_nan(0.0, min_nan(a[3], b[3]) - max_nan(a[1], b[1]) + plus);
      const double inter = w * h;
      const double overlap = inter / (min_area ? min_nan(area[size_t(i)], area[size_t(j)])
                                               : area[size_t(i)] + area[size_t(j)] - inter);
      if (!(overlap <= threshold)) removed[size_t(j)] = 1;  // NaN (an empty box against itself) overlaps
    }
  }
  return keep;
}

}  // namespace facert::cpu
