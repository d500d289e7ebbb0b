// Conv2d: picks, once at construction, how the layer runs:
//  - Isa::Ref: conv2d_direct, parallel over output channels;
//  - otherwise one GEMM per group: C (out_c/g x out_h*out_w) = W_g (out_c/g x in_c/g*kh*kw) * B_g,
//    B_g read straight from the image (1x1 stride-1 unpadded: the input planes themselves; other
//    convs: im2col done while packing). Groups too thin for a GEMM tile (depthwise) run direct.
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/conv2d_direct.hpp"
#include "cpu/gemm.hpp"
#include "cpu/kernels.hpp"

namespace facert::cpu {

namespace {

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

}  // namespace

struct Conv2d::Impl {
  Conv2dShape shape;
  Activation act;
  const KernelTable* table;
  std::vector<float> weight, bias;  // direct path
  std::vector<PackedA> packed;      // GEMM path, one per group
  bool use_gemm = false;
};

Conv2d::Conv2d(const Conv2dShape& s, const float* weight, const float* bias, Activation act, Isa isa)
    : impl_(std::make_unique<Impl>()) {
  validate(s);
  Impl& p = *impl_;
  p.shape = s;
  p.act = act;
  p.table = &kernel_table(isa);
  const int og = s.out_c / s.groups;
  const int k = s.in_c / s.groups * s.kh * s.kw;
  p.use_gemm = p.table->gemm != nullptr && (s.groups == 1 || og >= p.table->gemm->mr / 2);
  if (p.use_gemm) {
    for (int g = 0; g < s.groups; ++g)
      p.packed.push_back(pack_a(weight + static_cast<int64_t>(g) * og * k, og, k, k,
                                bias ? bias + g * og : nullptr, p.table->gemm->mr));
  } else {
    p.weight.assign(weight, weight + static_cast<int64_t>(s.out_c) * k);
    if (bias) p.bias.assign(bias, bias + s.out_c);
  }
}

Conv2d::~Conv2d() = default;
Conv2d::Conv2d(Conv2d&&) noexcept = default;

const Conv2dShape& Conv2d::shape() const { return impl_->shape; }
Isa Conv2d::isa() const { return impl_->table->isa; }

void Conv2d::run(const float* in, float* out, ThreadPool& pool) const {
  const Impl& p = *impl_;
  const Conv2dShape& s = p.shape;
  if (!p.use_gemm) {
    const float* bias = p.bias.empty() ? nullptr : p.bias.data();
    pool.parallel_for(s.out_c, [&](int64_t begin, int64_t end) {
      conv2d_direct(s, p.weight.data(), bias, p.act, in, out, static_cast<int>(begin), static_cast<int>(end));
    });
    return;
  }
  const int cg = s.in_c / s.groups, og = s.out_c / s.groups;
  const int64_t out_plane = static_cast<int64_t>(s.out_h) * s.out_w;
  const int64_t in_plane = static_cast<int64_t>(s.in_h) * s.in_w;
  const bool pointwise = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
  for (int g = 0; g < s.groups; ++g) {
    BSource b;
    b.data = in + g * cg * in_plane;
    if (pointwise) {
      b.ld = in_plane;
    } else {
      b.conv = true;
      b.in_h = s.in_h, b.in_w = s.in_w, b.out_w = s.out_w;
      b.kh = s.kh, b.kw = s.kw, b.sh = s.sh, b.sw = s.sw, b.ph = s.ph, b.pw = s.pw, b.dh = s.dh, b.dw = s.dw;
    }
    gemm(*p.table->gemm, p.packed[g], b, static_cast<int>(out_plane), out + g * og * out_plane, out_plane, p.act,
         pool);
  }
}

}  // namespace facert::cpu
