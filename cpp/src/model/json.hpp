// A small strict JSON reader (RFC 8259) for sq.bin headers: UTF-8 checked, nesting, keys per object and
// values per document limited, duplicate object keys refused (hashed: linear time), numbers kept both as
// double and (when integral) as int64.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/status.hpp"

namespace facert::json {

constexpr int kMaxDepth = 64;
// Caps checked while parsing, so a hostile header costs bounded time and memory: the largest header a
// model needs is 4096 tensors of 4 values each, and a graph of a few thousand ops.
constexpr size_t kMaxObjectKeys = 8192;
constexpr size_t kMaxValues = size_t(1) << 18;

struct Value {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  bool is_integer = false;  // written without fraction/exponent and fits int64
  int64_t integer = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // file order; keys unique

  bool is_null() const { return type == Type::Null; }
  bool is_bool() const { return type == Type::Bool; }
  bool is_number() const { return type == Type::Number; }
  bool is_string() const { return type == Type::String; }
  bool is_array() const { return type == Type::Array; }
  bool is_object() const { return type == Type::Object; }
  const Value* find(const std::string& key) const;  // objects only; nullptr when absent
};

const char* type_name(Value::Type t);  // "null", "bool", ... for messages

// Whole-text parse: only whitespace may follow the value. Errors name the byte offset.
Result<Value> parse(const char* text, size_t size);

// True when [s, s+n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(const char* s, size_t n, size_t* bad_offset);

}  // namespace facert::json
