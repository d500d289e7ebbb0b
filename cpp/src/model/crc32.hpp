// CRC-32 with zlib's polynomial (0xEDB88320 reflected), so crc32(bytes) == Python's zlib.crc32(bytes).
#pragma once
#include <cstddef>
#include <cstdint>

namespace facert {

// Continue a running CRC: crc32_update(crc32_update(0, a), b) == crc32(a + b).
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);

}  // namespace facert
