// The detector's resizes (MTCNN's pyramid levels and R-Net/O-Net crops) from one integral image: four
// corner reads per output value, whatever the window's size.
#include <algorithm>
#include <vector>

#include "cpu/kernels.hpp"

namespace facert::cpu {

namespace {

// torch adaptive_avg_pool's windows along one axis of a box [lo, hi): output i averages the input
// [lo + floor(i * len / out), lo + ceil((i + 1) * len / out)).
void taps(int64_t lo, int64_t hi, int out, std::vector<int64_t>* first, std::vector<int64_t>* last) {
  const int64_t len = hi - lo;
  first->resize(size_t(out));
  last->resize(size_t(out));
  for (int i = 0; i < out; ++i) {
    (*first)[size_t(i)] = lo + i * len / out;
    (*last)[size_t(i)] = lo + ((i + 1) * len + out - 1) / out;
  }
}

}  // namespace

template <class T>
void area_resize_boxes(const T* sums, int64_t w, int c, const int64_t* boxes, int64_t n, int out_h,
                       int out_w, bool reverse, bool exact, float* out) {
  std::vector<int64_t> y0, y1, x0, x1;
  const int64_t row = (w + 1) * c, plane = int64_t(out_h) * out_w;
  for (int64_t b = 0; b < n; ++b) {
    const int64_t* box = boxes + 4 * b;
    taps(box[1], box[3], out_h, &y0, &y1);
    taps(box[0], box[2], out_w, &x0, &x1);
    float* o = out + b * c * plane;
    for (int oy = 0; oy < out_h; ++oy) {
      const T* top = sums + y0[size_t(oy)] * row;
      const T* bottom = sums + y1[size_t(oy)] * row;
      const int64_t dy = y1[size_t(oy)] - y0[size_t(oy)];
      float* dst = o + oy * out_w;
      for (int ox = 0; ox < out_w; ++ox) {
        const int64_t l = x0[size_t(ox)] * c, r = x1[size_t(ox)] * c, area = dy * (x1[size_t(ox)] - x0[size_t(ox)]);
        for (int ch = 0; ch < c; ++ch) {
          // the window's rows first, then its columns (the order fixes a double image's rounding)
          const T total = (bottom[r + ch] - top[r + ch]) - (bottom[l + ch] - top[l + ch]);
          // exact integer sums and areas below 2**24 are exact in float32: one division rounds correctly
          dst[(reverse ? c - 1 - ch : ch) * plane + ox] = exact && area * 255 < (int64_t(1) << 24)
                                                              ? float(total) / float(area)
                                                              : float(double(total) / double(area));
        }
      }
    }
  }
}

template void area_resize_boxes<int32_t>(const int32_t*, int64_t, int, const int64_t*, int64_t, int, int,
                                         bool, bool, float*);
template void area_resize_boxes<double>(const double*, int64_t, int, const int64_t*, int64_t, int, int,
                                        bool, bool, float*);

}  // namespace facert::cpu
