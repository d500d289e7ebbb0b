#include "model/crc32.hpp"

#include <array>

namespace facert {

namespace {
// Slicing-by-16 tables (16 KiB): the checksum covers the whole file at every load, so it should run near memory
// speed (slicing-by-4 took 2.3 ms of a 3 MB model's 6 ms engine creation).
constexpr int kSlices = 16;
using Tables = std::array<std::array<uint32_t, 256>, kSlices>;

Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (int s = 1; s < kSlices; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  return t;
}

inline uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
}  // namespace

uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n) {
  static const Tables t = make_tables();
  uint32_t c = ~crc;
  for (; n >= kSlices; p += kSlices, n -= kSlices) {
    uint32_t word[4] = {le32(p) ^ c, le32(p + 4), le32(p + 8), le32(p + 12)};
    c = 0;
    for (int w = 0; w < 4; ++w)  // byte j of the block goes through table 15 - j
      for (int b = 0; b < 4; ++b) c ^= t[kSlices - 1 - (4 * w + b)][(word[w] >> (8 * b)) & 0xFF];
  }
  while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

}  // namespace facert
