// Image -> network input, as docs/format.md says: bilinear resize with OpenCV INTER_LINEAR geometry
// (src = (dst + 0.5) * in / out - 0.5, clamped at the borders), in float with no rounding back to
// uint8, then channel order and (pixel * scale - mean[c]) / std[c], laid out CHW.
#pragma once
#include <cstdint>

#include "cpu/thread_pool.hpp"
#include "graph/graph.hpp"
#include "model/status.hpp"

namespace facert::engine {

struct ImageView {
  const uint8_t* data = nullptr;  // HxWx3 BGR, interleaved
  int64_t height = 0, width = 0;
  int64_t row_stride = 0;  // bytes between row starts (>= 3 * width)
};

Status check_image(const ImageView& img);

// out: (3, spec.height, spec.width) floats.
void preprocess(const ImageView& img, const graph::InputSpec& spec, float* out, cpu::ThreadPool& pool);

}  // namespace facert::engine
