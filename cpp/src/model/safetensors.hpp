// The safetensors container of sq.bin: [u64 LE N][N bytes JSON header][data]. Reading only; every
// length and offset is checked against the file before it is used.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/json.hpp"
#include "model/status.hpp"

namespace facert::safetensors {

constexpr uint64_t kMaxHeaderBytes = uint64_t(16) << 20;
constexpr size_t kMaxTensors = 4096;
constexpr int64_t kMaxTensorElements = int64_t(1) << 28;
constexpr int64_t kMaxDim = int64_t(1) << 20;

enum class DType { F32, F16 };
size_t itemsize(DType d);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

struct Header {
  json::Value json;            // the whole header object
  uint64_t header_bytes = 0;   // N
  uint64_t data_offset = 0;    // 8 + N
  uint64_t data_bytes = 0;     // file size - data_offset
};

// Length prefix, UTF-8, JSON syntax, top-level object.
Result<Header> read_header(const uint8_t* file, size_t size);

// __metadata__: present, an object, every value a string. File order kept.
Result<std::vector<std::pair<std::string, std::string>>> read_metadata(const json::Value& header);

// Every key but __metadata__: dtype, shape, offsets; back to back from 0 to data_bytes.
// Returned sorted by begin.
Result<std::vector<TensorEntry>> read_tensor_table(const json::Value& header, uint64_t data_bytes);

// Copies a tensor's data out as fp32 (F16 widened). `data` is the start of the data section.
void read_as_f32(const TensorEntry& t, const uint8_t* data, float* out);

}  // namespace facert::safetensors
