// Internal: blocked GEMM driver, C (M x N) = A (M x K) * B (K x N) + bias, activation fused into
// the store. A (weights) is packed once; B is packed per call, straight from the image, so no
// im2col buffer exists.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/kernel_table.hpp"

namespace facert::cpu {

// A packed into ceil(M/MR) panels; panel p = rows [p*MR, p*MR+MR) stored k-major
// ([kk][i], K*MR floats), rows past M zero. bias padded the same way (zeros when absent).
struct PackedA {
  int m = 0, k = 0, mr = 0;
  std::vector<float> data;
  std::vector<float> bias;
};
// a(i, kk) = a[i * lda + kk]
PackedA pack_a(const float* a, int m, int k, int64_t lda, const float* bias, int mr);

// Where B's elements come from.
struct BSource {
  enum class Kind {
    Dense,    // B(kk, j) = data[kk * ld + j]: a 1x1 stride-1 unpadded conv reads its input planes
    Shifted,  // B(kk, j) = data[row_offset[kk] + j]: a stride-1 conv over a zero-padded copy of the
              // image, on a "wide" output grid of padded-row width (see CLayout)
    Im2col,   // the im2col of one image (C, H, W): kk = (c*kh + ky)*kw + kx, j = oy*out_w + ox,
              // B(kk, j) = data[c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw], zero outside
  };
  Kind kind = Kind::Dense;
  const float* data = nullptr;
  int64_t ld = 0;                       // Dense
  const int64_t* row_offset = nullptr;  // Shifted
  int in_h = 0, in_w = 0, out_w = 0;    // Im2col
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// Where column j of C is stored. Plain: c[i * ldc + j]. Wide (grid_w > 0): j = y * grid_w + x is
// kept only if x < keep_w, at c[i * ldc + y * keep_w + x]; the other columns are never written.
struct CLayout {
  int grid_w = 0;
  int keep_w = 0;
};

// Parallel over column and/or row blocks of C on `pool`.
void gemm(const GemmKernel& kernel, const PackedA& a, const BSource& b, int n, float* c, int64_t ldc,
          const CLayout& layout, Activation act, ThreadPool& pool);

}  // namespace facert::cpu
