// Blocked GEMM driver (GotoBLAS order): for each K block, pack a block of B columns into NR-wide
// panels (per thread, thread_local grow-only scratch), then sweep MR x NR microkernel tiles. Where B's rows
// are contiguous runs of memory (Dense: a 1x1 conv's input planes; Shifted: windows of the phase planes) the
// microkernel reads whole panels in place (the copy cost as much as the FMAs of a 16-channel squeeze layer);
// only a partial last panel, and im2col's gathered rows, are packed.
#include "cpu/gemm.hpp"

#include <algorithm>
#include <cstring>

namespace facert::cpu {

namespace {

constexpr int kMaxKc = 512;              // K rows per packed block; SqueezeNet's K is <= 576
constexpr int64_t kBBlockBytes = 256 << 10;  // packed B block target: fits a 256 KiB+ L2
constexpr int kMaxTile = 16 * 48;         // scratch tile for partial tiles, >= any MR*NR
constexpr int kMaxNr = 64;                // >= any NR: bounds the column runs of one panel

thread_local std::vector<float> t_packed_b;
thread_local std::vector<float> t_shared_panel;  // the caller's: a last panel packed once for all row-split tasks

float* packed_b_scratch(size_t floats) {
  if (t_packed_b.size() < floats) t_packed_b.resize(floats);
  return t_packed_b.data();
}

// Packs B rows [k0, k0+kc) x columns [j0, j0+nr) (cols >= n zero) into dst (kc x nr).
void pack_b_panel(const BSource& s, int k0, int kc, int j0, int n, int nr, float* dst) {
  const int valid = std::min(nr, n - j0);
  if (s.kind != BSource::Kind::Im2col) {
    for (int p = 0; p < kc; ++p, dst += nr) {
      const float* src = s.kind == BSource::Kind::Dense ? s.data + static_cast<int64_t>(k0 + p) * s.ld + j0
                                                        : s.data + s.row_offset[k0 + p] + j0;
      if (valid == 16 && nr == 16) {
        std::memcpy(dst, src, sizeof(float) * 16);  // constant size: inlined vector moves
      } else if (valid == nr) {
        std::memcpy(dst, src, sizeof(float) * nr);
      } else {
        std::memcpy(dst, src, sizeof(float) * valid);
        std::fill(dst + valid, dst + nr, 0.f);
      }
    }
    return;
  }
  // The panel's columns cut into runs that share one output row: within a run the input pixels of
  // one (c, ky, kx) row of B are evenly spaced along one image row, so each run is a clipped
  // (strided) row copy instead of a per-element bounds check.
  struct Run {
    int offset, length, iy0, ix0;  // first column in the panel, columns, input y/x of kernel tap (0, 0)
  };
  Run runs[kMaxNr];
  int run_count = 0;
  for (int j = 0; j < valid;) {
    const int oy = (j0 + j) / s.out_w, ox = (j0 + j) % s.out_w;
    const int length = std::min(valid - j, s.out_w - ox);
    runs[run_count++] = {j, length, oy * s.sh - s.ph, ox * s.sw - s.pw};
    j += length;
  }
  const int taps = s.kh * s.kw;
  for (int p = 0; p < kc; ++p, dst += nr) {
    const int kk = k0 + p;
    const int c = kk / taps, r = kk % taps;
    const int dy = (r / s.kw) * s.dh, dx = (r % s.kw) * s.dw;
    const float* plane = s.data + static_cast<int64_t>(c) * s.in_h * s.in_w;
    std::fill(dst, dst + nr, 0.f);
    for (int q = 0; q < run_count; ++q) {
      const Run& run = runs[q];
      const int iy = run.iy0 + dy, ix = run.ix0 + dx;
      if (iy < 0 || iy >= s.in_h) continue;
      // columns t of the run read x = ix + t*sw; keep those inside [0, in_w)
      const int t_lo = ix >= 0 ? 0 : (-ix + s.sw - 1) / s.sw;
      const int t_hi = ix > s.in_w - 1 ? 0 : std::min(run.length, (s.in_w - 1 - ix) / s.sw + 1);
      const float* src = plane + static_cast<int64_t>(iy) * s.in_w + ix;
      float* d = dst + run.offset;
      if (s.sw == 1) {
        for (int t = t_lo; t < t_hi; ++t) d[t] = src[t];  // runs are short: a loop beats memcpy calls
      } else {
        for (int t = t_lo; t < t_hi; ++t) d[t] = src[t * s.sw];
      }
    }
  }
}

// One MR x NR tile whose first column is C column j0. A tile cut by the edge of C, or one whose
// columns are not contiguous in the output (wide layout), goes through a scratch tile, so nothing
// outside C (e.g. a neighbour's concat channels) is touched.
void run_tile(const GemmKernel& kern, int kc, const float* a, const float* b, int64_t ldb, const int64_t* brow, float* c, int64_t ldc,
              const CLayout& layout, int j0, const float* bias, bool accumulate, bool last, Activation act,
              int m_valid, int n_valid) {
  // Output column runs: (first tile column, output column, length)
  struct Run {
    int t, out, length;
  };
  Run runs[kMaxNr];
  int run_count = 0;
  if (layout.grid_w == 0) {
    runs[run_count++] = {0, j0, n_valid};
  } else {
    for (int t = 0; t < n_valid;) {
      const int y = (j0 + t) / layout.grid_w, x = (j0 + t) % layout.grid_w;
      const int length = std::min(n_valid - t, layout.grid_w - x);
      if (x < layout.keep_w) runs[run_count++] = {t, y * layout.keep_w + x, std::min(length, layout.keep_w - x)};
      t += length;
    }
  }
  // A narrow last panel runs the kernel's column or half tile, where it has them.
  GemmMicroKernel fn = kern.fn;
  int width = kern.nr;
  if (n_valid <= kern.max_columns)
    fn = kern.columns[n_valid - 1], width = n_valid;
  else if (kern.half && n_valid <= kern.nr / 2)
    fn = kern.half, width = kern.nr / 2;
  if (m_valid == kern.mr && run_count == 1 && runs[0].t == 0 && runs[0].length == width) {
    fn(kc, a, b, ldb, brow, c + runs[0].out, ldc, bias, accumulate, last, act);
    return;
  }
  float tile[kMaxTile];
  if (accumulate) {
    std::fill(tile, tile + kern.mr * kern.nr, 0.f);
    for (int i = 0; i < m_valid; ++i)
      for (int r = 0; r < run_count; ++r)
        std::memcpy(tile + i * kern.nr + runs[r].t, c + i * ldc + runs[r].out, sizeof(float) * runs[r].length);
  }
  fn(kc, a, b, ldb, brow, tile, kern.nr, bias, accumulate, last, act);
  for (int i = 0; i < m_valid; ++i)
    for (int r = 0; r < run_count; ++r)
      std::memcpy(c + i * ldc + runs[r].out, tile + i * kern.nr + runs[r].t, sizeof(float) * runs[r].length);
}

}  // namespace

PackedA pack_a(const float* a, int m, int k, int64_t lda, const float* bias, int mr) {
  PackedA p;
  p.m = m;
  p.k = k;
  p.mr = mr;
  const int panels = (m + mr - 1) / mr;
  p.data.assign(static_cast<size_t>(panels) * k * mr, 0.f);
  p.bias.assign(static_cast<size_t>(panels) * mr, 0.f);
  for (int i = 0; i < m; ++i) {
    float* panel = p.data.data() + static_cast<size_t>(i / mr) * k * mr;
    for (int kk = 0; kk < k; ++kk) panel[static_cast<size_t>(kk) * mr + i % mr] = a[i * lda + kk];
    if (bias) p.bias[i] = bias[i];
  }
  return p;
}

void gemm(const GemmKernel& kern, const PackedA& a, const BSource& b, int n, float* c, int64_t ldc,
          const CLayout& layout, Activation act, ThreadPool& pool) {
  const int mr = kern.mr, nr = kern.nr, k = a.k;
  const int m_panels = (a.m + mr - 1) / mr;
  const int n_panels = (n + nr - 1) / nr;
  const int kc_max = k <= kMaxKc + kMaxKc / 8 ? k : kMaxKc;  // avoid a tiny last K block
  const int64_t work = int64_t(a.m) * k * n / 8;  // vectorised MACs
  const int threads = work < kMinParallelWork || ThreadPool::nested() ? 1 : pool.size();

  // Column blocks sized for the cache; with few columns per thread, split rows instead (each
  // row block then packs the same B, which is small in that case). A B read in place (not im2col) costs a
  // row split no packing, and rows keep threads off each other's cache lines (column blocks of C meet mid-line
  // in every row), but every thread then reads all of B: columns where that reads less (expand1x1 layers, whose
  // A is K=16-64 by 64-256: 0.86-0.94x the time on 2 threads at 27x27 and 55x55).
  int nc_panels = static_cast<int>(std::max<int64_t>(1, kBBlockBytes / (int64_t(4) * kc_max * nr)));
  // Two tasks per thread, so that a thread slowed down by another process sheds work to the others.
  int m_chunks = 1;
  if (threads > 1) {
    const int tasks = 2 * threads;
    // A row split has every thread read all of B and a share of A; a column split all of A and a share of B.
    const int64_t a_size = int64_t(a.m) * k, b_size = int64_t(k) * n;
    const bool rows_read_less = b_size + a_size / threads <= a_size + b_size / threads;
    if (n < 4 * nr * threads || (b.kind == BSource::Kind::Dense && m_panels >= tasks && rows_read_less))
      m_chunks = std::min(m_panels, tasks);
    else
      nc_panels = std::min(nc_panels, (n_panels + tasks - 1) / tasks);
  }
  const int n_chunks = (n_panels + nc_panels - 1) / nc_panels;
  // Panel np is packed at bpack + (np - p_begin) * kc * nr, or read in place: Dense / Shifted whole panels, and
  // last panels the column tile runs, which reads only their columns (the 6x6 layers' last 4). A last panel
  // that must be packed while several row-split tasks share B is packed once, here, for all of K: each task
  // packing it again made the 13x13 pointwise layers scale poorly on two threads.
  const auto in_place = [&](int np) {
    return b.kind != BSource::Kind::Im2col && ((np + 1) * nr <= n || n - np * nr <= kern.max_columns);
  };
  const float* shared_last = nullptr;
  if (m_chunks > 1 && b.kind != BSource::Kind::Im2col && !in_place(n_panels - 1)) {
    t_shared_panel.resize(size_t(k) * nr);
    pack_b_panel(b, 0, k, (n_panels - 1) * nr, n, nr, t_shared_panel.data());
    shared_last = t_shared_panel.data();
  }

  parallel_for_work(pool, int64_t(n_chunks) * m_chunks, work, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int nchunk = static_cast<int>(task / m_chunks), mchunk = static_cast<int>(task % m_chunks);
      const int p_begin = nchunk * nc_panels, p_end = std::min(n_panels, p_begin + nc_panels);
      const int m_begin = m_panels * mchunk / m_chunks, m_end = m_panels * (mchunk + 1) / m_chunks;
      float* bpack = packed_b_scratch(static_cast<size_t>(kc_max) * nr * (p_end - p_begin));
      for (int k0 = 0; k0 < k; k0 += kc_max) {
        const int kc = std::min(kc_max, k - k0);
        const bool shifted = b.kind == BSource::Kind::Shifted;
        const auto shared = [&](int np) { return shared_last && np == n_panels - 1; };
        for (int np = p_begin; np < p_end; ++np)
          if (!in_place(np) && !shared(np))
            pack_b_panel(b, k0, kc, np * nr, n, nr, bpack + static_cast<size_t>(np - p_begin) * kc * nr);
        const bool accumulate = k0 > 0, last = k0 + kc >= k;
        for (int mp = m_begin; mp < m_end; ++mp) {
          const float* apanel = a.data.data() + (static_cast<size_t>(mp) * k + k0) * mr;
          const float* bias = a.bias.data() + static_cast<size_t>(mp) * mr;
          const int m_valid = std::min(mr, a.m - mp * mr);
          for (int np = p_begin; np < p_end; ++np) {
            const int n_valid = std::min(nr, n - np * nr);
            const bool direct = in_place(np);
            const float* bpanel = shared(np) ? shared_last + static_cast<size_t>(k0) * nr
                                  : !direct ? bpack + static_cast<size_t>(np - p_begin) * kc * nr
                                  : shifted ? b.data + int64_t(np) * nr
                                            : b.data + k0 * b.ld + int64_t(np) * nr;
            run_tile(kern, kc, apanel, bpanel, direct ? b.ld : nr, direct && shifted ? b.row_offset + k0 : nullptr,
                     c + static_cast<int64_t>(mp) * mr * ldc, ldc, layout, np * nr, bias, accumulate, last, act,
                     m_valid, n_valid);
          }
        }
      }
    }
  });
}

}  // namespace facert::cpu
