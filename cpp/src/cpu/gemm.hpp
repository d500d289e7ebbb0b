// Internal: blocked GEMM driver, C (M x N) = A (M x K) * B (K x N) + bias, activation fused into
// the store. A (weights) is packed once; B is packed per call, straight from the image (the
// im2col of a kxk/strided conv happens inside the packing, there is no im2col buffer).
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

// Where B's elements come from. Dense: B(kk, j) = data[kk * ld + j]. Conv: the im2col of one
// image (C, H, W) for a conv with the given geometry: kk = (c*kh + ky)*kw + kx, j = oy*out_w + ox,
// B(kk, j) = data[c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw], zero outside the image.
struct BSource {
  const float* data = nullptr;
  bool conv = false;
  int64_t ld = 0;  // dense only
  int in_h = 0, in_w = 0, out_w = 0;
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// C (M x n): c[i * ldc + j]. Parallel over column and/or row blocks of C on `pool`.
void gemm(const GemmKernel& kernel, const PackedA& a, const BSource& b, int n, float* c, int64_t ldc,
          Activation act, ThreadPool& pool);

}  // namespace facert::cpu
