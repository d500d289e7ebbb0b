#include "engine/checks.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace facert::engine {

namespace {
std::string image_label(int64_t i, int64_t n) { return n == 1 ? std::string() : "image " + std::to_string(i) + ": "; }

// Whether x[0..n) holds a NaN or an Inf (exponent bits all ones): one pass without an early exit, which the
// compiler vectorises (half the time of an isfinite loop that stops at the first), run on every forward.
bool any_non_finite(const float* x, int64_t n) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  return bad != 0;
}
}  // namespace

Status check_finite_input(const float* x, int64_t n, int64_t per_image) {
  if (!any_non_finite(x, n * per_image)) return Status::ok();
  for (int64_t i = 0; i < n; ++i)  // where, for the message
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
