// maxpool2d with PyTorch MaxPool2d semantics: padding acts as -inf (windows are clipped to the
// image), ceil mode may add a partial last window but never one that starts in the padding.
// Separable: per output row, the max over the window's input rows (contiguous), then the max along x
// of that row. The ISA table supplies vector versions of both steps (AVX2: the 3-wide stride-2 case), or
// of the whole 3x3 or 2x2 stride-2 row (AVX-512, masked loads: no edge loops).
// Like the reference's np.max, a NaN input is not guaranteed to propagate.
#include <algorithm>
#include <vector>

#include "cpu/kernel_table.hpp"
#include "cpu/kernels.hpp"

namespace facert::cpu {

namespace {

// Row max scratch: in_w floats plus slack that vector code may read past the row (never used).
constexpr int kRowSlack = 32;
thread_local std::vector<float> t_row_max;

inline float max2(float a, float b) { return max_nan(a, b); }

// out[ox] = max(row[x0 .. x1)) with the window of ox clipped to [0, in_w).
void max_along_x(const Pool2dShape& s, const KernelTable& t, const float* row, float* out) {
  // interior: windows fully inside the row
  const int lo = std::min(s.out_w, (s.pw + s.sw - 1) / s.sw);
  const int hi = std::max(lo, std::min(s.out_w, s.in_w - s.kw + s.pw >= 0 ? (s.in_w - s.kw + s.pw) / s.sw + 1 : 0));
  const auto edge = [&](int ox) {
    const int x0 = std::max(0, ox * s.sw - s.pw), x1 = std::min(s.in_w, ox * s.sw - s.pw + s.kw);
    float m = row[x0];
    for (int x = x0 + 1; x < x1; ++x) m = max2(m, row[x]);
    out[ox] = m;
  };
  for (int ox = 0; ox < lo; ++ox) edge(ox);
  int first = lo;
  if (s.kw == 3 && s.sw == 2 && t.max3_stride2 && hi > lo) {
    const int start = lo * s.sw - s.pw;
    first += t.max3_stride2(row + start, s.in_w - start + kRowSlack, hi - lo, out + lo);
  }
  if (s.kw == 3) {
    for (int ox = first; ox < hi; ++ox) {
      const float* w = row + ox * s.sw - s.pw;
      out[ox] = max2(max2(w[0], w[1]), w[2]);
    }
  } else {
    for (int ox = lo; ox < hi; ++ox) {
      const float* w = row + ox * s.sw - s.pw;
      float m = w[0];
      for (int x = 1; x < s.kw; ++x) m = max2(m, w[x]);
      out[ox] = m;
    }
  }
  for (int ox = hi; ox < s.out_w; ++ox) edge(ox);
}

}  // namespace

int pool_out_size(int in, int k, int s, int p, bool ceil_mode) {
  const int span = in + 2 * p - k;
  if (span < 0 || s <= 0) return 0;
  int out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;  // last window would start in the padding
  return out;
}

void maxpool2d(const Pool2dShape& s, const float* in, float* out, Isa isa, ThreadPool& pool) {
  const KernelTable& t = kernel_table(isa);
  const int64_t in_plane = static_cast<int64_t>(s.in_h) * s.in_w;
  const int64_t out_plane = static_cast<int64_t>(s.out_h) * s.out_w;
  const auto rows_kernel = s.kw == 3 && s.kh == 3 ? t.max3x3_stride2_rows
                           : s.kw == 2 && s.kh == 2 ? t.max2x2_stride2_rows : nullptr;
  parallel_for_work(pool, int64_t(s.c) * s.out_h, int64_t(s.c) * in_plane, [&](int64_t begin, int64_t end) {
    if (rows_kernel && s.sw == 2) {  // the ISA's kernel takes each channel's run of rows in one call
      for (int64_t task = begin; task < end;) {
        const int c = static_cast<int>(task / s.out_h), oy = static_cast<int>(task % s.out_h);
        const int oy_end = static_cast<int>(std::min<int64_t>(s.out_h, oy + (end - task)));
        rows_kernel(PoolRows{in + c * in_plane, s.in_h, s.in_w, s.sh, s.ph, s.pw, out + c * out_plane, s.out_w, oy,
                             oy_end});
        task += oy_end - oy;
      }
      return;
    }
    if (t_row_max.size() < static_cast<size_t>(s.in_w + kRowSlack)) t_row_max.resize(s.in_w + kRowSlack);
    float* rmax = t_row_max.data();
    int c = static_cast<int>(begin / s.out_h), oy = static_cast<int>(begin % s.out_h) - 1;
    for (int64_t task = begin; task < end; ++task) {
      if (++oy == s.out_h) oy = 0, ++c;  // task = c * out_h + oy, without a division per row
      const float* plane = in + c * in_plane;
      int y0, y1;
      pool_window_rows(oy, s.kh, s.sh, s.ph, s.in_h, &y0, &y1);
      std::copy(plane + int64_t(y0) * s.in_w, plane + int64_t(y0 + 1) * s.in_w, rmax);
      for (int y = y0 + 1; y < y1; ++y) t.max_into(rmax, plane + int64_t(y) * s.in_w, s.in_w);
      max_along_x(s, t, rmax, out + c * out_plane + int64_t(oy) * s.out_w);
    }
  });
}

}  // namespace facert::cpu
