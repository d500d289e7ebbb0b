// l2_normalize: v /= max(||v||_2, 1e-12), as torch.nn.functional.normalize. The norm is summed in
// double: an embedding is short and this keeps the result independent of summation order.
#include <algorithm>
#include <cmath>

#include "cpu/kernels.hpp"

namespace facert::cpu {

void l2_normalize(float* v, int n) {
  double sq = 0.0;
  for (int i = 0; i < n; ++i) sq += static_cast<double>(v[i]) * v[i];
  const double norm = std::max(std::sqrt(sq), 1e-12);
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(v[i] / norm);
}

}  // namespace facert::cpu
