// maxpool2d with PyTorch MaxPool2d semantics: padding acts as -inf (windows are clipped to the
// image), ceil mode may add a partial last window but never one that starts in the padding.
// Portable for every ISA: a memory-bound op, the compiler vectorises the stride-1 interior.
#include <algorithm>
#include <limits>

#include "cpu/kernels.hpp"

namespace facert::cpu {

int pool_out_size(int in, int k, int s, int p, bool ceil_mode) {
  const int span = in + 2 * p - k;
  if (span < 0 || s <= 0) return 0;
  int out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;  // last window would start in the padding
  return out;
}

void maxpool2d(const Pool2dShape& s, const float* in, float* out, Isa /*isa: one portable path*/, ThreadPool& pool) {
  const int64_t in_plane = static_cast<int64_t>(s.in_h) * s.in_w;
  const int64_t out_plane = static_cast<int64_t>(s.out_h) * s.out_w;
  pool.parallel_for(int64_t(s.c) * s.out_h, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int c = static_cast<int>(row / s.out_h), oy = static_cast<int>(row % s.out_h);
      const float* plane = in + c * in_plane;
      float* orow = out + c * out_plane + static_cast<int64_t>(oy) * s.out_w;
      const int y0 = std::max(0, oy * s.sh - s.ph), y1 = std::min(s.in_h, oy * s.sh - s.ph + s.kh);
      for (int ox = 0; ox < s.out_w; ++ox) orow[ox] = -std::numeric_limits<float>::infinity();
      for (int iy = y0; iy < y1; ++iy) {
        const float* irow = plane + static_cast<int64_t>(iy) * s.in_w;
        for (int ox = 0; ox < s.out_w; ++ox) {
          const int x0 = std::max(0, ox * s.sw - s.pw), x1 = std::min(s.in_w, ox * s.sw - s.pw + s.kw);
          float m = orow[ox];
          for (int ix = x0; ix < x1; ++ix) m = std::max(m, irow[ix]);
          orow[ox] = m;
        }
      }
    }
  });
}

}  // namespace facert::cpu
