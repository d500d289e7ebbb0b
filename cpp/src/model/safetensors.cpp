#include "model/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace facert::safetensors {

size_t itemsize(DType d) { return d == DType::F32 ? 4 : 2; }

namespace {
std::string hex_prefix(const uint8_t* file, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) {
    if (i) s += ' ';
    s += digits[file[i] >> 4];
    s += digits[file[i] & 15];
  }
  return s;
}
}  // namespace

Result<Header> read_header(const uint8_t* file, size_t size) {
  if (size < 8) return Status::model("truncated: file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];
  // Any other file (a PNG, a zip) reads as an absurd length: say what it is not, not what it claims.
  const bool json_follows = size > 8 && file[8] == '{';
  if (!json_follows && (n == 0 || n > kMaxHeaderBytes || n > size - 8))
    return Status::model("not an sq.bin file: it does not start with a header length and a JSON header "
                         "(first bytes " + hex_prefix(file, size) + ")");
  if (n == 0) return Status::model("header length is 0");
  if (n > kMaxHeaderBytes)
    return Status::model("header length " + std::to_string(n) + " exceeds the 16 MiB limit");
  if (n > size - 8)
    return Status::model("truncated: header says " + std::to_string(n) + " bytes of header, file has " +
                         std::to_string(size - 8) + " after the length");
  auto parsed = json::parse(reinterpret_cast<const char*>(file + 8), size_t(n));
  if (!parsed) return parsed.status().with_context("header");
  if (!parsed.value().is_object()) return Status::model("header is not a JSON object");
  Header h;
  h.json = std::move(parsed).value();
  h.header_bytes = n;
  h.data_offset = 8 + n;
  h.data_bytes = size - h.data_offset;
  return h;
}

Result<std::vector<std::pair<std::string, std::string>>> read_metadata(const json::Value& header) {
  const json::Value* meta = header.find("__metadata__");
  if (!meta) return Status::model("__metadata__ is missing: not a facert model file");
  if (!meta->is_object()) return Status::model("__metadata__ is not an object");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : meta->object) {
    if (!kv.second.is_string())
      return Status::model("__metadata__ value '" + kv.first + "' is a " + json::type_name(kv.second.type) +
                           ", expected a string");
    out.emplace_back(kv.first, kv.second.string);
  }
  return out;
}

namespace {

Status read_entry(const std::string& name, const json::Value& v, TensorEntry* t) {
  if (!v.is_object()) return Status::model("is not an object");
  for (const auto& kv : v.object)
    if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
      return Status::model("unexpected key '" + kv.first + "'");
  const json::Value* dtype = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offs = v.find("data_offsets");
  if (!dtype || !shape || !offs) return Status::model("needs dtype, shape and data_offsets");
  if (!dtype->is_string()) return Status::model("dtype is not a string");
  if (dtype->string == "F32") t->dtype = DType::F32;
  else if (dtype->string == "F16") t->dtype = DType::F16;
  else return Status::model("unknown dtype '" + dtype->string + "' (expected F32 or F16)");
  if (!shape->is_array() || shape->array.empty() || shape->array.size() > 4)
    return Status::model("shape must be a list of 1 to 4 dimensions");
  int64_t elements = 1;
  for (const auto& d : shape->array) {
    if (!d.is_number() || !d.is_integer || d.integer < 1 || d.integer > kMaxDim)
      return Status::model("shape dimensions must be integers in 1..2^20");
    elements *= d.integer;  // <= 2^28 * 2^20 before the check: no overflow
    if (elements > kMaxTensorElements) return Status::model("more than 2^28 elements");
    t->shape.push_back(d.integer);
  }
  if (!offs->is_array() || offs->array.size() != 2) return Status::model("data_offsets must be [begin, end]");
  for (const auto& o : offs->array)
    if (!o.is_number() || !o.is_integer || o.integer < 0)
      return Status::model("data_offsets must be non-negative integers");
  t->name = name;
  t->begin = uint64_t(offs->array[0].integer);
  t->end = uint64_t(offs->array[1].integer);
  if (t->end < t->begin) return Status::model("data_offsets end before begin");
  const uint64_t want = uint64_t(elements) * itemsize(t->dtype);
  if (t->end - t->begin != want)
    return Status::model("size mismatch: offsets span " + std::to_string(t->end - t->begin) +
                         " bytes, shape and dtype need " + std::to_string(want));
  return Status::ok();
}

}  // namespace

Result<std::vector<TensorEntry>> read_tensor_table(const json::Value& header, uint64_t data_bytes) {
  if (header.object.size() > kMaxTensors + 1) return Status::model("more than 4096 tensors");
  std::vector<TensorEntry> out;
  out.reserve(header.object.size());
  for (const auto& kv : header.object) {
    if (kv.first == "__metadata__") continue;
    TensorEntry t;
    Status st = read_entry(kv.first, kv.second, &t);
    if (!st.is_ok()) return st.with_context("tensor '" + kv.first + "'");
    if (t.end > data_bytes)
      return Status::model("truncated: tensor '" + t.name + "' ends at byte " + std::to_string(t.end) +
                           " of the data section, file has " + std::to_string(data_bytes));
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const auto& t : out) {
    if (t.begin < at) return Status::model("tensor '" + t.name + "' overlaps the previous tensor");
    if (t.begin > at)
      return Status::model("gap of " + std::to_string(t.begin - at) + " bytes before tensor '" + t.name + "'");
    at = t.end;
  }
  if (at != data_bytes)
    return Status::model("trailing bytes: tensors end at " + std::to_string(at) + ", data section has " +
                         std::to_string(data_bytes));
  return out;
}

namespace {
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(float(mant), -24);
    return (h & 0x8000) ? -v : v;
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

void read_as_f32(const TensorEntry& t, const uint8_t* data, float* out) {
  const uint8_t* p = data + t.begin;
  const size_t n = size_t((t.end - t.begin) / itemsize(t.dtype));
  if (t.dtype == DType::F32) {
    for (size_t i = 0; i < n; ++i) {  // explicit little-endian decode
      uint32_t b = uint32_t(p[4 * i]) | (uint32_t(p[4 * i + 1]) << 8) | (uint32_t(p[4 * i + 2]) << 16) |
                   (uint32_t(p[4 * i + 3]) << 24);
      std::memcpy(&out[i], &b, 4);
    }
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = half_to_float(uint16_t(p[2 * i] | (p[2 * i + 1] << 8)));
  }
}

}  // namespace facert::safetensors
