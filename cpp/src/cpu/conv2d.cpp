// Conv2d: picks, once at construction, how the layer runs (method()):
//  - "direct": conv2d_direct, parallel over output channels. Isa::Ref, and groups too thin for a
//    GEMM tile (depthwise);
//  - otherwise one GEMM per group: C (out_c/g x pixels) = W_g (out_c/g x in_c/g*kh*kw) * B_g, with B_g
//    "gemm": a 1x1 stride-1 unpadded conv's input planes themselves;
//    "gemm_shifted": every row of B is one contiguous shifted window of a zero-padded, phase-split
//       copy of the image (stride s: s*s sub-sampled planes per channel, so a strided tap becomes a
//       plain shift), over a "wide" output grid of phase-row width whose extra columns are dropped at
//       the store. Packing is a plain copy; it costs ceil((W+2pw)/sw) - out_w wasted columns per row;
//    "gemm_im2col": anything else, the im2col done while packing;
//  - "winograd_f23" / "winograd_f43": 3x3 stride-1 single-group convs on an ISA with Winograd kernels
//    (conv2d_winograd.cpp): per (in, out) channel pair, 16 multiplies per 2x2 output tile instead of 36,
//    or 36 per 4x4 tile instead of 144; F(4,3) where the output is large enough (kF43MinSide);
//  - "gemv": a single-group conv with a one-pixel output (a detector's dense layer as a conv over its last
//    map): the input window is gathered once and each A panel is one GEMV, not a tile with one useful column.
#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/conv2d_direct.hpp"
#include "cpu/conv2d_winograd.hpp"
#include "cpu/gemm.hpp"
#include "cpu/kernels.hpp"

namespace facert::cpu {

namespace {

enum class Method { Direct, Gemm, GemmShifted, GemmIm2col, WinogradF23, WinogradF43, Gemv };
constexpr const char* kMethodNames[] = {"direct", "gemm", "gemm_shifted", "gemm_im2col", "winograd_f23",
                                        "winograd_f43", "gemv"};

// F(4,3) from this output side up (the smaller of out_h and out_w), F(2,3) below. Measured (SqueezeNet
// students in whole networks, and sides 6..27 with 16..64 -> 64..256 channels, caches flushed between runs;
// AVX-512 and AVX2, 1 and 2 threads): F(4,3) takes 0.7-1.0x F(2,3)'s time from 15 up, 0.85-1.2x at 11..14
// (a wash: ties go to F(2,3), about ten times more accurate), 1.1-1.9x up to 10, where too few 4x4 tiles
// fill the point GEMMs' rows. On Zen 5 (AVX-512 kernels of 2026-12-01) F(4,3) ran 0.77-0.88x at 12-13 alone,
// but the 224-px network 1.17x slower with it at 13x13: its transformed weights, 36/16 of F(2,3)'s, stream from
// L3 (7.4 MB for fire6-9 instead of 3.3).
constexpr int kF43MinSide = 15;
// Winograd from this many input channels up. Below, the transforms outweigh the point GEMMs' saving: a 3-channel
// input (a detector's first layer) measured 0.85-0.89x F(4,3)'s time through the shifted GEMM (MTCNN's P-, R-
// and O-Net), a 10-channel one a tie, 16 and more channels 0.67x the other way (AVX-512, 1 thread).
constexpr int kWinogradMinInC = 8;

void validate(const Conv2dShape& s) {
  const auto fail = [](const std::string& what) { throw std::invalid_argument("conv2d: " + what); };
  if (s.in_c <= 0 || s.in_h <= 0 || s.in_w <= 0 || s.out_c <= 0) fail("sizes must be positive");
  if (s.kh <= 0 || s.kw <= 0 || s.sh <= 0 || s.sw <= 0 || s.dh <= 0 || s.dw <= 0)
    fail("kernel, stride and dilation must be positive");
  if (s.ph < 0 || s.pw < 0) fail("padding must be >= 0");
  if (s.groups <= 0 || s.in_c % s.groups || s.out_c % s.groups)
    fail("groups=" + std::to_string(s.groups) + " must divide in_c=" + std::to_string(s.in_c) +
         " and out_c=" + std::to_string(s.out_c));
  const int eh = s.in_h + 2 * s.ph - s.dh * (s.kh - 1) - 1, ew = s.in_w + 2 * s.pw - s.dw * (s.kw - 1) - 1;
  if (eh < 0 || ew < 0) fail("kernel larger than the padded input");
  if (s.out_h != eh / s.sh + 1 || s.out_w != ew / s.sw + 1)
    fail("out_h/out_w " + std::to_string(s.out_h) + "x" + std::to_string(s.out_w) + " do not match the geometry (" +
         std::to_string(eh / s.sh + 1) + "x" + std::to_string(ew / s.sw + 1) + ")");
}

// The GEMM tile: the table's narrow one for a single-group layer with few output channels (a detector's heads,
// P-Net's 10-channel conv1) where it computes fewer empty rows than the main tile (P-Net's conv1: 12 rows
// instead of 16, 0.65x the time on 16x16; its heads: 4 instead of 8 or 16). One-pixel outputs keep the main
// tile's GEMV.
constexpr int kNarrowMaxChannels = 16;

const GemmKernel* choose_tile(const Conv2dShape& s, const KernelTable& table) {
  const GemmKernel* narrow = table.gemm_narrow;
  if (!narrow || s.groups != 1 || s.out_c >= kNarrowMaxChannels || (table.gemm->gemv && s.out_h * s.out_w == 1))
    return table.gemm;
  const auto rows = [&](int mr) { return (s.out_c + mr - 1) / mr * mr; };
  return rows(narrow->mr) < rows(table.gemm->mr) ? narrow : table.gemm;
}

bool applicable(Method m, const Conv2dShape& s, const KernelTable& table, const GemmKernel* tile) {
  switch (m) {
    case Method::Direct:
      return true;
    case Method::Gemm:
      return tile && s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
    case Method::GemmShifted:
    case Method::GemmIm2col:
      return tile != nullptr;
    case Method::WinogradF23:
      return table.winograd_f23 && Conv2dWinograd::applies(s);
    case Method::WinogradF43:
      return table.winograd_f43 && Conv2dWinograd::applies(s);
    case Method::Gemv:
      return tile && tile->gemv && s.out_h * s.out_w == 1 && s.groups == 1;
  }
  return false;
}

Method choose(const Conv2dShape& s, const KernelTable& table, const GemmKernel* tile) {
  const int og = s.out_c / s.groups;
  if (tile == nullptr || (s.groups > 1 && og < tile->mr / 2)) return Method::Direct;
  if (applicable(Method::Gemv, s, table, tile)) return Method::Gemv;
  const bool winograd_pays = s.in_c >= kWinogradMinInC;
  if (winograd_pays && applicable(Method::WinogradF43, s, table, tile) && std::min(s.out_h, s.out_w) >= kF43MinSide)
    return Method::WinogradF43;
  if (winograd_pays && applicable(Method::WinogradF23, s, table, tile)) return Method::WinogradF23;
  if (applicable(Method::Gemm, s, table, tile)) return Method::Gemm;
  // The wide grid pays for its dropped columns in whole NR panels: accept up to 1/8 more panels.
  const int nr = tile->nr;
  const int64_t panels = (int64_t(s.out_h) * s.out_w + nr - 1) / nr;
  const int64_t wide_w = (s.in_w + 2 * s.pw + s.sw - 1) / s.sw;
  const int64_t wide_panels = (int64_t(s.out_h) * wide_w + nr - 1) / nr;
  return wide_panels * 8 <= panels * 9 ? Method::GemmShifted : Method::GemmIm2col;
}

constexpr int kMaxMr = 16;  // >= any GEMM tile's MR

// The Method named `name` (a method() name), refused when unknown or when it cannot run this layer here.
Method forced(const char* name, const Conv2dShape& s, const KernelTable& table, const GemmKernel* tile) {
  for (int i = 0; i < int(std::size(kMethodNames)); ++i)
    if (std::string(name) == kMethodNames[i]) {
      if (!applicable(Method(i), s, table, tile))
        throw std::invalid_argument(std::string("conv2d: method '") + name + "' cannot run this layer on ISA '" +
                                    isa_name(table.isa) + "'");
      return Method(i);
    }
  throw std::invalid_argument(std::string("conv2d: unknown method '") + name + "'");
}

// Phase-split padded copy of the input for the shifted method: (C, sh, sw, Hq, Wq) plus a tail of
// zeros that the last rows' shifted windows run into, where plane (c, py, px) holds
// padded[c][qy*sh + py][qx*sw + px]. Per thread: run() may be called from several threads at once.
thread_local std::vector<float> t_phases;
thread_local std::vector<float> t_window;  // gemv: the input window of the one output pixel

}  // namespace

struct Conv2d::Impl {
  Conv2dShape shape;
  Activation act;
  const KernelTable* table;
  const GemmKernel* tile = nullptr;  // GEMM methods
  Method method;
  std::vector<float> weight, bias;  // direct
  std::vector<PackedA> packed;      // GEMM methods, one per group
  std::unique_ptr<Conv2dWinograd> winograd;
  std::vector<int64_t> row_offset;  // shifted: B row kk -> offset in the group's phase planes
  int phase_h = 0, phase_w = 0;     // Hq = ceil((H + 2ph) / sh), Wq likewise
  int64_t phases_size = 0;          // floats, tail included

  void split_phases(const float* in, float* phases, int64_t plane_begin, int64_t plane_end) const;
  void run_shifted(const float* in, float* out, ThreadPool& pool) const;
  void run_gemv(const float* in, float* out, ThreadPool& pool) const;
};

Conv2d::Conv2d(const Conv2dShape& s, const float* weight, const float* bias, Activation act, Isa isa,
               const char* method)
    : impl_(std::make_unique<Impl>()) {
  validate(s);
  Impl& p = *impl_;
  p.shape = s;
  p.act = act;
  p.table = &kernel_table(isa);
  p.tile = choose_tile(s, *p.table);
  p.method = method ? forced(method, s, *p.table, p.tile) : choose(s, *p.table, p.tile);
  const int og = s.out_c / s.groups, cg = s.in_c / s.groups;
  const int k = cg * s.kh * s.kw;
  if (p.method == Method::Direct) {
    p.weight.assign(weight, weight + static_cast<int64_t>(s.out_c) * k);
    if (bias) p.bias.assign(bias, bias + s.out_c);
    return;
  }
  if (p.method == Method::WinogradF23 || p.method == Method::WinogradF43) {
    p.winograd = std::make_unique<Conv2dWinograd>(s, weight, bias, *p.table, p.method == Method::WinogradF23 ? 2 : 4);
    return;
  }
  for (int g = 0; g < s.groups; ++g)
    p.packed.push_back(pack_a(weight + static_cast<int64_t>(g) * og * k, og, k, k, bias ? bias + g * og : nullptr,
                              p.tile->mr));
  if (p.method == Method::GemmShifted) {
    p.phase_h = (s.in_h + 2 * s.ph + s.sh - 1) / s.sh;
    p.phase_w = (s.in_w + 2 * s.pw + s.sw - 1) / s.sw;
    const int64_t plane = int64_t(p.phase_h) * p.phase_w;
    for (int c = 0; c < cg; ++c)
      for (int ky = 0; ky < s.kh; ++ky)
        for (int kx = 0; kx < s.kw; ++kx) {
          const int y = ky * s.dh, x = kx * s.dw;
          const int64_t phase = (int64_t(c) * s.sh + y % s.sh) * s.sw + x % s.sw;
          p.row_offset.push_back(phase * plane + int64_t(y / s.sh) * p.phase_w + x / s.sw);
        }
    // Output rows stay inside their planes (out_h - 1 + (kh-1)*dh/sh < Hq); the wide grid's last
    // columns run past the last plane by less than a phase row plus a packed panel.
    p.phases_size = int64_t(s.in_c) * s.sh * s.sw * plane + p.phase_w + p.tile->nr;
  }
}

Conv2d::~Conv2d() = default;
Conv2d::Conv2d(Conv2d&&) noexcept = default;

const Conv2dShape& Conv2d::shape() const { return impl_->shape; }
Isa Conv2d::isa() const { return impl_->table->isa; }
const char* Conv2d::tile() const { return impl_->method == Method::Direct ? "" : impl_->tile->name; }

const char* Conv2d::method() const { return kMethodNames[int(impl_->method)]; }

// Phase planes [plane_begin, plane_end) of (C, sh, sw), plane index (c * sh + py) * sw + px.
void Conv2d::Impl::split_phases(const float* in, float* phases, int64_t plane_begin, int64_t plane_end) const {
  const Conv2dShape& s = shape;
  const int64_t plane = int64_t(phase_h) * phase_w;
  for (int64_t i = plane_begin; i < plane_end; ++i) {
    const int c = int(i / (s.sh * s.sw)), py = int(i / s.sw % s.sh), px = int(i % s.sw);
    float* dst = phases + i * plane;
    // columns qx with input x = qx*sw + px - pw inside [0, in_w)
    const int x0 = px - s.pw;
    const int q_lo = std::min(phase_w, x0 >= 0 ? 0 : (-x0 + s.sw - 1) / s.sw);
    const int q_hi = std::max(q_lo, std::min(phase_w, s.in_w - 1 - x0 >= 0 ? (s.in_w - 1 - x0) / s.sw + 1 : 0));
    for (int qy = 0; qy < phase_h; ++qy, dst += phase_w) {
      const int iy = qy * s.sh + py - s.ph;
      if (iy < 0 || iy >= s.in_h) {
        std::fill(dst, dst + phase_w, 0.f);
        continue;
      }
      const float* src = in + (int64_t(c) * s.in_h + iy) * s.in_w + x0;
      std::fill(dst, dst + q_lo, 0.f);
      if (s.sw == 1)
        std::copy(src + q_lo, src + q_hi, dst + q_lo);
      else if (s.sw == 2)  // a constant stride: the compiler vectorises it (the stem's 3x3 stride 2)
        for (int q = q_lo; q < q_hi; ++q) dst[q] = src[2 * q];
      else
        for (int q = q_lo; q < q_hi; ++q) dst[q] = src[int64_t(q) * s.sw];
      std::fill(dst + q_hi, dst + phase_w, 0.f);
    }
  }
}

void Conv2d::Impl::run_shifted(const float* in, float* out, ThreadPool& pool) const {
  const Conv2dShape& s = shape;
  if (t_phases.size() < static_cast<size_t>(phases_size)) t_phases.resize(phases_size);
  float* phases = t_phases.data();
  const int64_t planes = int64_t(s.in_c) * s.sh * s.sw, plane = int64_t(phase_h) * phase_w;
  std::fill(phases + planes * plane, phases + phases_size, 0.f);
  parallel_for_work(pool, planes, planes * plane, [&](int64_t begin, int64_t end) { split_phases(in, phases, begin, end); });
  const int cg = s.in_c / s.groups, og = s.out_c / s.groups;
  const int64_t group_size = int64_t(cg) * s.sh * s.sw * phase_h * phase_w;
  const int64_t out_plane = int64_t(s.out_h) * s.out_w;
  for (int g = 0; g < s.groups; ++g) {
    BSource b;
    b.kind = BSource::Kind::Shifted;
    b.data = phases + g * group_size;
    b.row_offset = row_offset.data();
    gemm(*tile, packed[g], b, s.out_h * phase_w, out + g * og * out_plane, out_plane, CLayout{phase_w, s.out_w},
         act, pool);
  }
}

void Conv2d::Impl::run_gemv(const float* in, float* out, ThreadPool& pool) const {
  const Conv2dShape& s = shape;
  const PackedA& a = packed[0];
  if (t_window.size() < size_t(a.k)) t_window.resize(a.k);
  float* x = t_window.data();  // B's one column, (c, ky, kx) order, zero in the padding
  for (int c = 0, kk = 0; c < s.in_c; ++c)
    for (int ky = 0; ky < s.kh; ++ky)
      for (int kx = 0; kx < s.kw; ++kx, ++kk) {
        const int iy = ky * s.dh - s.ph, ix = kx * s.dw - s.pw;
        x[kk] = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w ? in[(int64_t(c) * s.in_h + iy) * s.in_w + ix] : 0.f;
      }
  const int mr = tile->mr, panels = (a.m + mr - 1) / mr;
  parallel_for_work(pool, panels, int64_t(a.m) * a.k / 8, [&](int64_t begin, int64_t end) {
    float y[kMaxMr];
    for (int64_t mp = begin; mp < end; ++mp) {
      tile->gemv(a.k, a.data.data() + mp * a.k * mr, x, a.bias.data() + mp * mr, y, act);
      std::copy(y, y + std::min<int64_t>(mr, a.m - mp * mr), out + mp * mr);  // one pixel: channel stride 1
    }
  });
}

void Conv2d::run(const float* in, float* out, ThreadPool& pool) const {
  const Impl& p = *impl_;
  const Conv2dShape& s = p.shape;
  if (p.method == Method::Direct) {
    const float* bias = p.bias.empty() ? nullptr : p.bias.data();
    const int64_t macs = int64_t(s.out_c) * s.out_h * s.out_w * (s.in_c / s.groups) * s.kh * s.kw;
    parallel_for_work(pool, s.out_c, macs, [&](int64_t begin, int64_t end) {
      conv2d_direct(s, p.weight.data(), bias, p.act, in, out, static_cast<int>(begin), static_cast<int>(end));
    });
    return;
  }
  if (p.method == Method::GemmShifted) {
    p.run_shifted(in, out, pool);
    return;
  }
  if (p.winograd) {
    p.winograd->run(in, out, p.act, pool);
    return;
  }
  if (p.method == Method::Gemv) {
    p.run_gemv(in, out, pool);
    return;
  }
  const int cg = s.in_c / s.groups, og = s.out_c / s.groups;
  const int64_t out_plane = static_cast<int64_t>(s.out_h) * s.out_w;
  const int64_t in_plane = static_cast<int64_t>(s.in_h) * s.in_w;
  for (int g = 0; g < s.groups; ++g) {
    BSource b;
    b.data = in + g * cg * in_plane;
    if (p.method == Method::Gemm) {
      b.kind = BSource::Kind::Dense;
      b.ld = in_plane;
    } else {
      b.kind = BSource::Kind::Im2col;
      b.in_h = s.in_h, b.in_w = s.in_w, b.out_w = s.out_w;
      b.kh = s.kh, b.kw = s.kw, b.sh = s.sh, b.sw = s.sw, b.ph = s.ph, b.pw = s.pw, b.dh = s.dh, b.dw = s.dw;
    }
    gemm(*p.tile, p.packed[g], b, static_cast<int>(out_plane), out + g * og * out_plane, out_plane, CLayout{},
         p.act, pool);
  }
}

}  // namespace facert::cpu
