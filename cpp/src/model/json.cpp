#include "model/json.hpp"

#include <charconv>
#include <cmath>
#include <new>
#include <unordered_set>

namespace facert::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "bool";
    case Value::Type::Number: return "number";
    case Value::Type::String: return "string";
    case Value::Type::Array: return "array";
    case Value::Type::Object: return "object";
  }
  return "?";
}

bool valid_utf8(const char* str, size_t n, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(str);
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else { if (bad_offset) *bad_offset = i; return false; }
    if (n - i < len) { if (bad_offset) *bad_offset = i; return false; }
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) { if (bad_offset) *bad_offset = i; return false; }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

namespace {

class Parser {
 public:
  Parser(const char* text, size_t size) : p_(text), begin_(text), end_(text + size) {}

  Status parse_document(Value* out) {
    skip_ws();
    FACERT_RETURN_IF_ERROR(parse_value(out, 0));
    skip_ws();
    if (p_ != end_) return fail("unexpected characters after the JSON value");
    return Status::ok();
  }

 private:
  Status fail(const std::string& what) const {
    return Status::model("invalid JSON at byte " + std::to_string(p_ - begin_) + ": " + what);
  }
  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool consume_literal(const char* lit) {
    const char* q = p_;
    for (; *lit; ++lit, ++q)
      if (q == end_ || *q != *lit) return false;
    p_ = q;
    return true;
  }

  Status parse_value(Value* out, int depth) {
    if (p_ == end_) return fail("unexpected end of text");
    if (++values_ > kMaxValues) return fail("more than " + std::to_string(kMaxValues) + " values");
    switch (*p_) {
      case '{': return parse_object(out, depth + 1);
      case '[': return parse_array(out, depth + 1);
      case '"': out->type = Value::Type::String; return parse_string(&out->string);
      case 't':
        if (!consume_literal("true")) return fail("bad literal");
        out->type = Value::Type::Bool; out->boolean = true; return Status::ok();
      case 'f':
        if (!consume_literal("false")) return fail("bad literal");
        out->type = Value::Type::Bool; out->boolean = false; return Status::ok();
      case 'n':
        if (!consume_literal("null")) return fail("bad literal");
        out->type = Value::Type::Null; return Status::ok();
      default: return parse_number(out);
    }
  }

  Status parse_object(Value* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 64 levels");
    out->type = Value::Type::Object;
    ++p_;  // '{'
    skip_ws();
    if (p_ != end_ && *p_ == '}') { ++p_; return Status::ok(); }
    std::unordered_set<std::string> keys;  // Value::find is linear: a scan per key made parsing quadratic
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"') return fail("expected a string key");
      if (keys.size() == kMaxObjectKeys)
        return fail("more than " + std::to_string(kMaxObjectKeys) + " keys in an object");
      std::string key;
      FACERT_RETURN_IF_ERROR(parse_string(&key));
      if (!keys.insert(key).second) return fail("duplicate key \"" + key + "\"");
      skip_ws();
      if (p_ == end_ || *p_ != ':') return fail("expected ':'");
      ++p_;
      skip_ws();
      out->object.emplace_back(std::move(key), Value());
      FACERT_RETURN_IF_ERROR(parse_value(&out->object.back().second, depth));
      skip_ws();
      if (p_ == end_) return fail("unterminated object");
      if (*p_ == ',') { ++p_; continue; }
      if (*p_ == '}') { ++p_; return Status::ok(); }
      return fail("expected ',' or '}'");
    }
  }

  Status parse_array(Value* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 64 levels");
    out->type = Value::Type::Array;
    ++p_;  // '['
    skip_ws();
    if (p_ != end_ && *p_ == ']') { ++p_; return Status::ok(); }
    for (;;) {
      skip_ws();
      out->array.emplace_back();
      FACERT_RETURN_IF_ERROR(parse_value(&out->array.back(), depth));
      skip_ws();
      if (p_ == end_) return fail("unterminated array");
      if (*p_ == ',') { ++p_; continue; }
      if (*p_ == ']') { ++p_; return Status::ok(); }
      return fail("expected ',' or ']'");
    }
  }

  bool read_hex4(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      char c = p_[i];
      r <<= 4;
      if (c >= '0' && c <= '9') r |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') r |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') r |= uint32_t(c - 'A' + 10);
      else return false;
    }
    p_ += 4;
    *v = r;
    return true;
  }

  static void append_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) { s->push_back(char(cp)); }
    else if (cp < 0x800) { s->push_back(char(0xC0 | (cp >> 6))); s->push_back(char(0x80 | (cp & 0x3F))); }
    else if (cp < 0x10000) {
      s->push_back(char(0xE0 | (cp >> 12)));
      s->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(char(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(char(0xF0 | (cp >> 18)));
      s->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(char(0x80 | (cp & 0x3F)));
    }
  }

  // UTF-8 validity of raw bytes is checked by the caller over the whole text beforehand.
  Status parse_string(std::string* out) {
    ++p_;  // opening quote
    for (;;) {
      if (p_ == end_) return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') { ++p_; return Status::ok(); }
      if (c < 0x20) return fail("control character in string");
      if (c != '\\') { out->push_back(char(c)); ++p_; continue; }
      ++p_;
      if (p_ == end_) return fail("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!read_hex4(&cp)) return fail("bad \\u escape");
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return fail("unpaired high surrogate");
            p_ += 2;
            if (!read_hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return fail("unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: return fail("bad escape");
      }
    }
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  Status parse_number(Value* out) {
    const char* start = p_;
    bool integral = true;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !is_digit(*p_)) return fail("unexpected character");
    if (*p_ == '0') {
      ++p_;
      if (p_ != end_ && is_digit(*p_)) return fail("leading zero in number");
    } else {
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail("digit expected after '.'");
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail("digit expected in exponent");
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    out->type = Value::Type::Number;
    auto r = std::from_chars(start, p_, out->number);
    if (r.ec != std::errc() || !std::isfinite(out->number)) {
      p_ = start;
      return fail("number out of range");
    }
    if (integral) {
      auto ri = std::from_chars(start, p_, out->integer);
      out->is_integer = (ri.ec == std::errc() && ri.ptr == p_);
    }
    return Status::ok();
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  size_t values_ = 0;
};

}  // namespace

Result<Value> parse(const char* text, size_t size) {
  size_t bad = 0;
  if (!valid_utf8(text, size, &bad))
    return Status::model("header is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  try {
    Value v;
    Parser parser(text, size);
    Status st = parser.parse_document(&v);
    if (!st.is_ok()) return st;
    return v;
  } catch (const std::bad_alloc&) {
    return Status::model("out of memory while parsing JSON");
  }
}

}  // namespace facert::json
