// Reference conv2d: for each output channel, accumulate weight * shifted input rows. Each output
// sums its terms in (ic, ky, kx) order, starting from the bias.
#include <algorithm>

#include "cpu/conv2d_direct.hpp"
#include "cpu/kernel_table.hpp"

namespace facert::cpu {

namespace {
// First ox with ox*stride + offset >= 0, and one past the last with ox*stride + offset < size.
inline int first_inside(int offset, int stride) { return offset >= 0 ? 0 : (-offset + stride - 1) / stride; }
inline int end_inside(int offset, int stride, int size, int out) {
  if (size - 1 - offset < 0) return 0;
  return std::min(out, (size - 1 - offset) / stride + 1);
}
}  // namespace

void conv2d_direct(const Conv2dShape& s, const float* weight, const float* bias, Activation act,
                   const float* in, float* out, int oc_begin, int oc_end) {
  const int cg = s.in_c / s.groups, og = s.out_c / s.groups;
  const int64_t out_plane = static_cast<int64_t>(s.out_h) * s.out_w;
  const int64_t in_plane = static_cast<int64_t>(s.in_h) * s.in_w;
  for (int oc = oc_begin; oc < oc_end; ++oc) {
    float* o = out + oc * out_plane;
    std::fill(o, o + out_plane, bias ? bias[oc] : 0.f);
    const int g = oc / og;
    for (int ic = 0; ic < cg; ++ic) {
      const float* plane = in + (static_cast<int64_t>(g) * cg + ic) * in_plane;
      for (int ky = 0; ky < s.kh; ++ky) {
        for (int kx = 0; kx < s.kw; ++kx) {
          const float w = weight[((static_cast<int64_t>(oc) * cg + ic) * s.kh + ky) * s.kw + kx];
          const int xoff = kx * s.dw - s.pw;
          const int x_lo = first_inside(xoff, s.sw), x_hi = end_inside(xoff, s.sw, s.in_w, s.out_w);
          for (int oy = 0; oy < s.out_h; ++oy) {
            const int iy = oy * s.sh - s.ph + ky * s.dh;
            if (iy < 0 || iy >= s.in_h) continue;
            const float* row = plane + static_cast<int64_t>(iy) * s.in_w + xoff;
            float* orow = o + static_cast<int64_t>(oy) * s.out_w;
            if (s.sw == 1)
              for (int ox = x_lo; ox < x_hi; ++ox) orow[ox] += w * row[ox];
            else
              for (int ox = x_lo; ox < x_hi; ++ox) orow[ox] += w * row[ox * s.sw];
          }
        }
      }
    }
    if (act != Activation::None)
      for (int64_t i = 0; i < out_plane; ++i) o[i] = apply_activation(o[i], act);
  }
}

}  // namespace facert::cpu
