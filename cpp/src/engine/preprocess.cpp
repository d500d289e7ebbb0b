#include "engine/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace facert::engine {

namespace {

// One axis of the resize: for every output index the first source index and the weight of the next.
struct Taps {
  std::vector<int64_t> index;
  std::vector<float> frac;
};

Taps make_taps(int64_t in, int64_t out) {
  Taps t;
  t.index.resize(size_t(out));
  t.frac.resize(size_t(out));
  const double scale = double(in) / double(out);
  for (int64_t d = 0; d < out; ++d) {
    float f = float((double(d) + 0.5) * scale - 0.5);  // OpenCV computes this in double, keeps float
    int64_t s = int64_t(std::floor(f));
    f -= float(s);
    if (s < 0) { s = 0; f = 0.f; }
    if (s >= in - 1) { s = in - 1; f = 0.f; }
    t.index[size_t(d)] = s;
    t.frac[size_t(d)] = f;
  }
  return t;
}

}  // namespace

Status check_image(const ImageView& img) {
  if (!img.data) return Status::input("image data is null");
  if (img.height < 1 || img.width < 1)
    return Status::input("expected a non-empty HxWx3 image, got " + std::to_string(img.height) + "x" +
                         std::to_string(img.width));
  if (img.height > (int64_t(1) << 20) || img.width > (int64_t(1) << 20))
    return Status::input("image of " + std::to_string(img.height) + "x" + std::to_string(img.width) +
                         " is larger than 2^20 on a side");
  if (img.row_stride < 3 * img.width)
    return Status::input("row stride " + std::to_string(img.row_stride) + " bytes is less than 3 * width = " +
                         std::to_string(3 * img.width));
  return Status::ok();
}

void preprocess(const ImageView& img, const graph::InputSpec& spec, float* out, cpu::ThreadPool& pool) {
  const int64_t oh = spec.height, ow = spec.width, plane = oh * ow;
  const Taps ty = make_taps(img.height, oh), tx = make_taps(img.width, ow);
  // Output channel c reads BGR channel src[c]; the affine a*v + b is (v*scale - mean)/std.
  const bool rgb = spec.channel_order == "RGB";
  int src[3];
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    src[c] = rgb ? 2 - c : c;
    a[c] = float(spec.scale / spec.std[c]);
    b[c] = float(-spec.mean[c] / spec.std[c]);
  }
  pool.parallel_for(oh, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y) {
      const int64_t sy = ty.index[size_t(y)];
      const float fy = ty.frac[size_t(y)];
      const uint8_t* r0 = img.data + sy * img.row_stride;
      const uint8_t* r1 = img.data + std::min(sy + 1, img.height - 1) * img.row_stride;
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t sx0 = tx.index[size_t(x)] * 3;
        const int64_t sx1 = std::min(tx.index[size_t(x)] + 1, img.width - 1) * 3;
        const float fx = tx.frac[size_t(x)];
        for (int c = 0; c < 3; ++c) {
          const int s = src[c];
          const float top = float(r0[sx0 + s]) + fx * (float(r0[sx1 + s]) - float(r0[sx0 + s]));
          const float bot = float(r1[sx0 + s]) + fx * (float(r1[sx1 + s]) - float(r1[sx0 + s]));
          const float v = top + fy * (bot - top);
          out[c * plane + y * ow + x] = v * a[c] + b[c];
        }
      }
    }
  });
}

}  // namespace facert::engine
