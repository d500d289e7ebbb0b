#include "engine/checks.hpp"

#include <cmath>
#include <string>

namespace facert::engine {

namespace {
std::string image_label(int64_t i, int64_t n) { return n == 1 ? std::string() : "image " + std::to_string(i) + ": "; }
}  // namespace

Status check_finite_input(const float* x, int64_t n, int64_t per_image) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per_image; ++k)
      if (!std::isfinite(x[i * per_image + k]))
        return Status::input(image_label(i, n) + "input holds a non-finite value (" +
                             (std::isnan(x[i * per_image + k]) ? "NaN" : "Inf") + ") at element " + std::to_string(k));
  return Status::ok();
}

Status check_embeddings(const float* v, int64_t n, int dim) {
  for (int64_t i = 0; i < n; ++i) {
    const float* e = v + i * dim;
    bool any = false;
    for (int k = 0; k < dim; ++k) {
      if (!std::isfinite(e[k]))
        return Status::input(image_label(i, n) + "the network's output is non-finite (element " + std::to_string(k) +
                             "): refusing to return it as an embedding");
      any = any || e[k] != 0.f;
    }
    if (!any)
      return Status::input(image_label(i, n) +
                           "the network's output is all zeros, so it has no direction to compare (a head "
                           "activation that zeroes every output? check the model with `facert info`)");
  }
  return Status::ok();
}

}  // namespace facert::engine
