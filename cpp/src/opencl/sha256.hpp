// SHA-256 (FIPS 180-4), for cache entries handed to a driver: a CRC catches accidents but not an edit that
// fixes up its checksum, and a driver given a bad binary may abort the process.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace facert::opencl {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> finish();

 private:
  void block(const uint8_t* p);
  void blocks(const uint8_t* p, size_t n);  // n whole 64-byte blocks, on the SHA extensions where present
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace facert::opencl
