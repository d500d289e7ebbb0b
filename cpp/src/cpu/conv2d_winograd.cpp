// Winograd F(2x2, 3x3) and F(4x4, 3x3) driver: weight transform (once, at construction), the zero-padded
// input copy, and the split of (tile panels x output-channel panels) into tasks across the pool.
#include "cpu/conv2d_winograd.hpp"

#include <algorithm>

#include "cpu/winograd.hpp"

namespace facert::cpu {

namespace {
using winograd::kLanes;
thread_local std::vector<float> t_padded, t_scratch;
}  // namespace

bool Conv2dWinograd::applies(const Conv2dShape& s) {
  return s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.groups == 1 &&
         s.ph == s.pw && s.ph <= 1;
}

Conv2dWinograd::Conv2dWinograd(const Conv2dShape& s, const float* weight, const float* bias, const KernelTable& table,
                               int m)
    : s_(s),
      kernel_(m == 2 ? table.winograd_f23 : table.winograd_f43),
      points_(winograd::points(m)),
      mr_(table.winograd_tiles) {
  panels_ = (s.out_c + kLanes - 1) / kLanes;
  const int tiles_y = (s.out_h + m - 1) / m, tiles_x = (s.out_w + m - 1) / m;
  tiles_ = tiles_y * tiles_x;
  tile_panels_ = (tiles_ + mr_ - 1) / mr_;
  // Padded plane: input at (y + ph, x + pw), zeros around, large enough for every tile's (m+2)^2 patch.
  ld_ = int64_t(tiles_x) * m + 2;
  plane_ = (int64_t(tiles_y) * m + 2) * ld_;
  patch_.assign(size_t(tiles_) + mr_, 0);  // a task's rows past the last tile read tile 0's patch
  for (int t = 0; t < tiles_; ++t) {
    tile_y_.push_back(m * (t / tiles_x));
    tile_x_.push_back(m * (t % tiles_x));
    patch_[t] = tile_y_[t] * ld_ + tile_x_[t];
  }
  if (m == 2)
    transform_weights<2>(weight);
  else
    transform_weights<4>(weight);
  bias_.assign(size_t(panels_) * kLanes, 0.f);
  if (bias) std::copy(bias, bias + s.out_c, bias_.begin());
}

// U = G g G^T per (out, in) channel pair, stored [point][panel][in_c][16]; channels past out_c zero.
// Explicit formulas (winograd::Tile) on the 16 output channels of a panel at once: this runs at Engine
// creation for every 3x3 layer. The 224-px net's eight expand3x3 layers took 1.9 ms (F(2,3)) and 5.3 ms
// (F(4,3)) one channel pair at a time, with stores scattered over the points; 0.5 and 1.0 ms this way (the
// generic double-precision matrix product, before, took 3 ms).
template <int M>
void Conv2dWinograd::transform_weights(const float* weight) {
  constexpr int N = M + 2;
  using L = winograd::Lanes<kLanes>;
  const Conv2dShape& s = s_;
  const int64_t block = int64_t(s.in_c) * kLanes;  // one point of one panel
  u_.resize(size_t(points_) * panels_ * block);
  for (int p = 0; p < panels_; ++p) {
    const int lanes = std::min(kLanes, s.out_c - p * kLanes);
    for (int ic = 0; ic < s.in_c; ++ic) {
      L g[3][3] = {};  // tap (y, x) of the panel's output channels, zero past out_c
      for (int j = 0; j < lanes; ++j)
        for (int k = 0; k < 9; ++k) g[k / 3][k % 3].v[j] = weight[((int64_t(p) * kLanes + j) * s.in_c + ic) * 9 + k];
      L gg[N][3];  // G g, column by column
      for (int x = 0; x < 3; ++x) {
        const L col[3] = {g[0][x], g[1][x], g[2][x]};
        L out[N];
        winograd::Tile<M>::weight(col, out);
        for (int r = 0; r < N; ++r) gg[r][x] = out[r];
      }
      float* dst = u_.data() + int64_t(p) * block + int64_t(ic) * kLanes;
      for (int r = 0; r < N; ++r) {  // (G g) G^T
        L out[N];
        winograd::Tile<M>::weight(gg[r], out);
        for (int x = 0; x < N; ++x) std::copy(out[x].v, out[x].v + kLanes, dst + (r * N + x) * panels_ * block);
      }
    }
  }
}

void Conv2dWinograd::run(const float* in, float* out, Activation act, ThreadPool& pool) const {
  const Conv2dShape& s = s_;
  const size_t padded_size = size_t(s.in_c) * plane_ + kWinogradSlack;
  if (t_padded.size() < padded_size) t_padded.resize(padded_size);
  float* padded = t_padded.data();
  parallel_for_work(pool, s.in_c, int64_t(s.in_c) * plane_, [&](int64_t begin, int64_t end) {
    std::fill(padded + begin * plane_, padded + end * plane_, 0.f);
    for (int64_t c = begin; c < end; ++c)
      for (int y = 0; y < s.in_h; ++y) {
        const float* src = in + (c * s.in_h + y) * s.in_w;
        std::copy(src, src + s.in_w, padded + c * plane_ + (y + s.ph) * ld_ + s.pw);
      }
  });
  // Tasks: tile groups of at most MR tiles, as even as tile_panels_ groups allow (49 tiles as 13+12+12+12, not
  // 16+16+16+1, which left a thread idle), times output-channel chunks when there are fewer groups than threads.
  // Each chunk transforms its tiles' input again, so no more chunks than threads: two per thread made the 6x6
  // layers transform twice as often (one thread: 2% of the network's time at 112 px; two: 6x6 layers 1.25x).
  const int threads = ThreadPool::nested() ? 1 : pool.size();
  const int groups = tile_panels_;
  int chunks = 1;
  while (threads > 1 && groups * chunks < threads && chunks < panels_) ++chunks;
  const int64_t work = int64_t(tiles_) * points_ * s.in_c * s.out_c / 16;  // vectorised MACs
  parallel_for_work(pool, int64_t(groups) * chunks, work, [&](int64_t begin, int64_t end) {
    // V, then two panels' M (winograd::run_task)
    const size_t scratch = size_t(points_) * (size_t(s.in_c) * mr_ + size_t(2) * mr_ * kLanes);
    if (t_scratch.size() < scratch) t_scratch.resize(scratch);
    for (int64_t task = begin; task < end; ++task) {
      const int group = int(task / chunks), chunk = int(task % chunks);
      const int first = int(int64_t(tiles_) * group / groups), last = int(int64_t(tiles_) * (group + 1) / groups);
      WinogradTask job;
      job.padded = padded;
      job.ld = ld_;
      job.plane = plane_;
      job.in_c = s.in_c;
      job.patch = patch_.data() + first;
      job.tile_y = tile_y_.data() + first;
      job.tile_x = tile_x_.data() + first;
      job.tiles = last - first;
      job.u = u_.data();
      job.panels = panels_;
      job.panel_begin = panels_ * chunk / chunks;
      job.panel_end = panels_ * (chunk + 1) / chunks;
      job.out_c = s.out_c;
      job.bias = bias_.data();
      job.act = act;
      job.out = out;
      job.out_plane = int64_t(s.out_h) * s.out_w;
      job.out_h = s.out_h;
      job.out_w = s.out_w;
      job.scratch = t_scratch.data();
      kernel_(job);
    }
  });
}

}  // namespace facert::cpu
