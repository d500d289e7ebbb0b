// Internal: the "winograd_f23" and "winograd_f43" methods of Conv2d (3x3, stride 1, dilation 1, padding 0
// or 1, one group): weights transformed once here, each call pads the input and runs WinogradTasks on the
// ISA's implementation (KernelTable::winograd_f23 / winograd_f43, cpu/winograd.hpp).
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/kernel_table.hpp"

namespace facert::cpu {

class Conv2dWinograd {
 public:
  static bool applies(const Conv2dShape& s);
  // m: the output tile, 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3)); table.winograd_f23 or winograd_f43 must be set.
  Conv2dWinograd(const Conv2dShape& s, const float* weight, const float* bias, const KernelTable& table, int m);
  void run(const float* in, float* out, Activation act, ThreadPool& pool) const;

 private:
  template <int M>
  void transform_weights(const float* weight);

  Conv2dShape s_;
  void (*kernel_)(const WinogradTask& task);
  int points_, mr_, panels_, tiles_, tile_panels_;
  int64_t ld_, plane_;
  std::vector<float> u_, bias_;
  std::vector<int64_t> patch_;     // tiles_ + mr_
  std::vector<int> tile_y_, tile_x_;
};

}  // namespace facert::cpu
