// Value checks at the Engine API: what the kernels cannot refuse themselves. Weights are checked once at
// load (model/graph_json.cpp); these check what each call brings in and hands back.
#pragma once
#include <cstdint>

#include "model/status.hpp"

namespace facert::engine {

// InputError naming the image and element of the first NaN/Inf in x: (n, per_image) floats.
Status check_finite_input(const float* x, int64_t n, int64_t per_image);

// InputError when an embedding (n, dim) is non-finite or all zeros: a zero vector has no direction (the
// API promises unit norm) and would score NaN against anything.
Status check_embeddings(const float* v, int64_t n, int dim);

}  // namespace facert::engine
