// Host-side packing of weights into the layouts kernels/*.cl read, in the runtime's storage type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace facert::opencl {

// IEEE binary16 bits, round to nearest even (what vstore_half does), with overflow to inf.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

// (O, C, kh, kw) -> [ceil(O/4)][ceil(C/4)][kh][kw][4 input lanes][4 output lanes], zero padded; as bytes of
// float (half = false) or binary16 (half = true).
std::vector<unsigned char> pack_conv_weight(const float* w, int o, int c, int kh, int kw, bool half);
// Depthwise (C, 1, kh, kw) -> [ceil(C/4)][kh][kw][4 lanes], zero padded (kernels/conv2d.cl conv2d_depthwise).
std::vector<unsigned char> pack_depthwise_weight(const float* w, int c, int kh, int kw, bool half);
// Plain row-major copy in the storage type (linear weights).
std::vector<unsigned char> to_storage(const float* w, size_t count, bool half);
// Bias padded with zeros to a multiple of 4 floats (always fp32); zeros when bias is null.
std::vector<float> pad_bias(const float* bias, int o);

}  // namespace facert::opencl
