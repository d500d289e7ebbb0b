// CPU kernels: the contract between the engine (cpp/src/graph, cpp/src/sched) and the ISA code.
// Activations are NCHW fp32; kernels work on one image at a time. Weights are repacked once,
// in the constructors, into whatever layout the chosen ISA's inner loop wants.
// Errors: the Conv2d/Linear constructors throw std::invalid_argument for inconsistent shapes or an
// ISA not available here (kernel_table); run() and the free functions trust shapes already checked.
// Any ISA may be forced (Isa::Ref included) so that every path is testable on one machine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/thread_pool.hpp"

namespace facert::cpu {

enum class Isa { Ref, Avx2, Neon, Avx512 };
// Every ISA, 'ref' first, in the order isas() lists them.
constexpr Isa kAllIsas[] = {Isa::Ref, Isa::Avx2, Isa::Avx512, Isa::Neon};
Isa best_isa();                 // from the running CPU's features
bool isa_available(Isa isa);    // compiled in and supported by this CPU
const char* isa_name(Isa isa);  // "ref", "avx2", "neon", "avx512"
bool parse_isa(const std::string& name, Isa* out);  // accepts the names above and "auto"

enum class Activation { None, Relu, Relu6 };

struct Conv2dShape {
  int in_c, in_h, in_w;
  int out_c, out_h, out_w;
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int groups;
};

class Conv2d {
 public:
  // weight: (out_c, in_c/groups, kh, kw); bias: (out_c) or nullptr. Copies what it needs. method: nullptr
  // chooses by the layer's shape; a method() name forces it (tests and benchmarks; std::invalid_argument
  // when it cannot run this layer on this ISA).
  Conv2d(const Conv2dShape& shape, const float* weight, const float* bias, Activation act, Isa isa,
         const char* method = nullptr);
  ~Conv2d();
  Conv2d(Conv2d&&) noexcept;
  // in: (in_c, in_h, in_w) contiguous. out: (out_c, out_h, out_w) with channel stride out_h*out_w;
  // it may point into the middle of a larger concat tensor (that is how concat costs no copy).
  // Thread-safe: scratch is per call/thread, never shared state.
  void run(const float* in, float* out, ThreadPool& pool) const;
  const Conv2dShape& shape() const;
  Isa isa() const;
  // How run() computes, chosen at construction (for tests and plan printing): "direct" (plain
  // loops), "gemm" (1x1 straight from the planes), "gemm_shifted" (stride-1 kxk over a padded
  // copy), "gemm_im2col" (im2col done while packing), "winograd_f23" and "winograd_f43" (3x3 stride 1,
  // AVX2/AVX-512).
  const char* method() const;
  // The GEMM microkernel's tile ("6x16" on AVX2, "8x32" on AVX-512, "8x8" on NEON), or "" for the
  // direct method.
  const char* tile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Linear {
 public:
  // weight: (out_features, in_features), bias: (out_features) or nullptr.
  Linear(int in_features, int out_features, const float* weight, const float* bias, Activation act, Isa isa);
  ~Linear();
  Linear(Linear&&) noexcept;
  // in: (n, in_features), out: (n, out_features), both contiguous.
  void run(const float* in, float* out, int n, ThreadPool& pool) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct Pool2dShape {
  int c, in_h, in_w, out_h, out_w;
  int kh, kw, sh, sw, ph, pw;
};
// PyTorch MaxPool2d semantics; out_h/out_w already computed with ceil_mode applied.
void maxpool2d(const Pool2dShape& s, const float* in, float* out, Isa isa, ThreadPool& pool);
// (c, hw) -> (c)
void global_avgpool(const float* in, int c, int hw, float* out, Isa isa, ThreadPool& pool);
// v /= max(||v||_2, 1e-12)
void l2_normalize(float* v, int n);

// The area resize of boxes of one HxWxC image (torch.nn.functional.interpolate(mode="area"): each output
// pixel the plain mean of an integer window), read from its integral image `sums` ((h + 1, w + 1, c), int32
// or double). boxes: n x (x0, y0, x1, y1), each inside the image and not empty (the caller checks). out:
// (n, c, out_h, out_w), channels in reverse order when `reverse`. `exact`: the sums are whole numbers of a
// uint8 image; then a window of under 2**24 / 255 pixels is averaged by one float32 division, any other by
// a double one. (The detector's, like nms below; not a network op.)
template <class T>
void area_resize_boxes(const T* sums, int64_t w, int c, const int64_t* boxes, int64_t n, int out_h,
                       int out_w, bool reverse, bool exact, float* out);

// Greedy NMS: indices of the boxes kept (n x (x1, y1, x2, y2)), highest score first (ties in index order, NaN
// scores last). A box goes when its overlap with a kept one is above threshold or not a number. Overlap:
// IoU with areas (x2 - x1) * (y2 - y1) (torchvision.ops.nms); min_area: intersection over the smaller area,
// sides counted + 1 (facenet-pytorch's O-Net stage).
std::vector<int64_t> nms(const double* boxes, const double* scores, int64_t n, double threshold, bool min_area);

// Pool2d output size under PyTorch's rules (ceil mode: a window starting in the padding is dropped).
int pool_out_size(int in, int k, int s, int p, bool ceil_mode);

}  // namespace facert::cpu
