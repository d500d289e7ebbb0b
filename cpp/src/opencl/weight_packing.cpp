#include "opencl/weight_packing.hpp"

#include <cstring>

namespace facert::opencl {

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0));  // inf/nan
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds past 65504: inf
  if (abs < 0x38800000u) {  // subnormal half (or zero): shift the full mantissa, round to nearest even
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14 + (112 - exp) + ... keeps 10 mantissa bits
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // a carry into the exponent is still correct
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FFu, x;
  if (exp == 0x1F) {
    x = sign | 0x7F800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      exp = 113;
      while (!(mant & 0x400u)) mant <<= 1, --exp;
      x = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
    }
  } else {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {
void put(std::vector<unsigned char>& out, size_t index, float v, bool half) {
  if (half) {
    const uint16_t h = float_to_half(v);
    std::memcpy(out.data() + index * 2, &h, 2);
  } else {
    std::memcpy(out.data() + index * 4, &v, 4);
  }
}
}  // namespace

std::vector<unsigned char> pack_conv_weight(const float* w, int o, int c, int kh, int kw, bool half) {
  const int ob_count = (o + 3) / 4, ib_count = (c + 3) / 4;
  const size_t elem = half ? 2 : 4;
  std::vector<unsigned char> out(size_t(ob_count) * ib_count * kh * kw * 16 * elem, 0);
  for (int oc = 0; oc < o; ++oc)
    for (int ic = 0; ic < c; ++ic)
      for (int ky = 0; ky < kh; ++ky)
        for (int kx = 0; kx < kw; ++kx) {
          const size_t dst = ((((size_t(oc / 4) * ib_count + ic / 4) * kh + ky) * kw + kx) * 4 + ic % 4) * 4 + oc % 4;
          put(out, dst, w[((size_t(oc) * c + ic) * kh + ky) * kw + kx], half);
        }
  return out;
}

std::vector<unsigned char> pack_depthwise_weight(const float* w, int c, int kh, int kw, bool half) {
  const size_t taps = size_t(kh) * kw;
  std::vector<unsigned char> out(size_t((c + 3) / 4) * taps * 4 * (half ? 2 : 4), 0);
  for (int ch = 0; ch < c; ++ch)
    for (size_t t = 0; t < taps; ++t)
      put(out, (size_t(ch / 4) * taps + t) * 4 + ch % 4, w[size_t(ch) * taps + t], half);
  return out;
}

std::vector<unsigned char> to_storage(const float* w, size_t count, bool half) {
  std::vector<unsigned char> out(count * (half ? 2 : 4));
  for (size_t i = 0; i < count; ++i) put(out, i, w[i], half);
  return out;
}

std::vector<float> pad_bias(const float* bias, int o) {
  std::vector<float> out(size_t((o + 3) / 4) * 4, 0.0f);
  if (bias) std::memcpy(out.data(), bias, sizeof(float) * o);
  return out;
}

}  // namespace facert::opencl
