#include "json.h"

#include <cstring>
#include <limits>
#include <locale>
#include <sstream>
#include <unordered_set>

namespace chatbert {
namespace json {

ParseError::ParseError(const std::string& message, size_t offset)
    : std::runtime_error("JSON error at byte " + std::to_string(offset) + ": " + message),
      offset_(offset),
      detail_(message) {}

// ---------------------------------------------------------------- Value

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}

Value Value::number_text(std::string text) {
  Value v;
  v.type_ = Type::Number;
  v.str_ = std::move(text);
  return v;
}

Value Value::number(int64_t n) { return number_text(std::to_string(n)); }
Value Value::number(uint64_t n) { return number_text(std::to_string(n)); }

Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.str_ = std::move(s);
  return v;
}

Value Value::array(Array a) {
  Value v;
  v.type_ = Type::Array;
  v.arr_ = std::move(a);
  return v;
}

Value Value::object(Object o) {
  Value v;
  v.type_ = Type::Object;
  v.obj_ = std::move(o);
  return v;
}

static void expect_type(Value::Type have, Value::Type want, const char* what) {
  if (have != want) throw std::logic_error(std::string("json::Value is not ") + what);
}

bool Value::as_bool() const {
  expect_type(type_, Type::Bool, "a boolean");
  return bool_;
}
const std::string& Value::as_string() const {
  expect_type(type_, Type::String, "a string");
  return str_;
}
const std::string& Value::number_str() const {
  expect_type(type_, Type::Number, "a number");
  return str_;
}
const Array& Value::as_array() const {
  expect_type(type_, Type::Array, "an array");
  return arr_;
}
const Object& Value::as_object() const {
  expect_type(type_, Type::Object, "an object");
  return obj_;
}
Array& Value::as_array() {
  expect_type(type_, Type::Array, "an array");
  return arr_;
}
Object& Value::as_object() {
  expect_type(type_, Type::Object, "an object");
  return obj_;
}

// Parses the digits of a number already validated by the grammar. Only plain
// integers qualify: "1.0" and "1e2" are rejected because a header offset
// written that way was not produced by any conforming writer.
static bool parse_magnitude(const std::string& s, bool& negative, uint64_t& mag) {
  size_t i = 0;
  negative = false;
  if (i < s.size() && s[i] == '-') {
    negative = true;
    ++i;
  }
  if (i >= s.size()) return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  mag = v;
  return true;
}

bool Value::as_uint64(uint64_t& out) const {
  if (type_ != Type::Number) return false;
  bool neg;
  uint64_t mag;
  if (!parse_magnitude(str_, neg, mag)) return false;
  if (neg && mag != 0) return false;  // "-0" is zero
  out = mag;
  return true;
}

bool Value::as_int64(int64_t& out) const {
  if (type_ != Type::Number) return false;
  bool neg;
  uint64_t mag;
  if (!parse_magnitude(str_, neg, mag)) return false;
  const uint64_t max_pos = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!neg) {
    if (mag > max_pos) return false;
    out = static_cast<int64_t>(mag);
  } else {
    if (mag > max_pos + 1) return false;
    out = mag == max_pos + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(mag);
  }
  return true;
}

double Value::as_double() const {
  expect_type(type_, Type::Number, "a number");
  // Classic locale: strtod would honour a ',' decimal separator set by the host.
  std::istringstream in(str_);
  in.imbue(std::locale::classic());
  double d = 0;
  in >> d;
  return d;  // out of range gives +-inf or 0 via the stream, fine for our use
}

const Value* Value::get(const std::string& key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& m : obj_)
    if (m.first == key) return &m.second;
  return nullptr;
}

// ---------------------------------------------------------------- UTF-8

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid.
static size_t utf8_sequence_length(const unsigned char* s, size_t n, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;  // continuation byte, overlong lead (C0/C1) or > F4
  }
  if (n - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = s[i + k];
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (len == 3 && cp < 0x800) return 0;                   // overlong
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;             // UTF-16 surrogate
  return len;
}

bool is_valid_utf8(const char* s, size_t n, size_t* bad_offset) {
  const unsigned char* u = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    size_t len = utf8_sequence_length(u, n, i);
    if (len == 0) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

static void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---------------------------------------------------------------- parser

namespace {

class Parser {
 public:
  Parser(const char* text, size_t size, const ParseOptions& opt)
      : s_(reinterpret_cast<const unsigned char*>(text)), n_(size), opt_(opt) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (i_ != n_) fail("unexpected " + describe_here() + " after the JSON value");
    return v;
  }

 private:
  const unsigned char* s_;
  size_t n_;
  size_t i_ = 0;
  ParseOptions opt_;

  [[noreturn]] void fail(const std::string& msg) const { throw ParseError(msg, i_); }
  [[noreturn]] void fail_at(const std::string& msg, size_t at) const { throw ParseError(msg, at); }

  std::string describe_here() const {
    if (i_ >= n_) return "end of input";
    unsigned char c = s_[i_];
    if (c >= 0x20 && c < 0x7F) return std::string("character '") + static_cast<char>(c) + "'";
    static const char* hex = "0123456789abcdef";
    std::string r = "byte 0x";
    r += hex[c >> 4];
    r += hex[c & 15];
    return r;
  }

  void skip_ws() {
    while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  void expect_literal(const char* lit) {
    size_t len = std::strlen(lit);
    if (n_ - i_ < len || std::memcmp(s_ + i_, lit, len) != 0)
      fail("invalid literal, expected '" + std::string(lit) + "'");
    i_ += len;
  }

  Value parse_value(int depth) {
    if (i_ >= n_) fail("unexpected end of input, expected a value");
    switch (s_[i_]) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value::string(parse_string());
      case 't': expect_literal("true"); return Value::boolean(true);
      case 'f': expect_literal("false"); return Value::boolean(false);
      case 'n': expect_literal("null"); return Value::null();
      default:
        if (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9')) return parse_number();
        fail("unexpected " + describe_here() + ", expected a value");
    }
  }

  void check_depth(int depth) {
    if (depth > opt_.max_depth)
      fail("nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
  }

  Value parse_object(int depth) {
    check_depth(depth);
    ++i_;  // '{'
    Object obj;
    // Set of keys seen so far: linear lookup would make hostile headers with
    // many keys quadratic.
    std::unordered_set<std::string> seen;
    skip_ws();
    if (i_ < n_ && s_[i_] == '}') {
      ++i_;
      return Value::object(std::move(obj));
    }
    for (;;) {
      skip_ws();
      if (i_ >= n_ || s_[i_] != '"') fail("unexpected " + describe_here() + ", expected a string key");
      size_t key_at = i_;
      std::string key = parse_string();
      if (!seen.insert(key).second) fail_at("duplicate key " + quote_for_message(key), key_at);
      skip_ws();
      if (i_ >= n_ || s_[i_] != ':') fail("unexpected " + describe_here() + ", expected ':'");
      ++i_;
      skip_ws();
      Value v = parse_value(depth);
      obj.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (i_ < n_ && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < n_ && s_[i_] == '}') {
        ++i_;
        return Value::object(std::move(obj));
      }
      fail("unexpected " + describe_here() + ", expected ',' or '}'");
    }
  }

  Value parse_array(int depth) {
    check_depth(depth);
    ++i_;  // '['
    Array arr;
    skip_ws();
    if (i_ < n_ && s_[i_] == ']') {
      ++i_;
      return Value::array(std::move(arr));
    }
    for (;;) {
      skip_ws();
      arr.push_back(parse_value(depth));
      skip_ws();
      if (i_ < n_ && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < n_ && s_[i_] == ']') {
        ++i_;
        return Value::array(std::move(arr));
      }
      fail("unexpected " + describe_here() + ", expected ',' or ']'");
    }
  }

  Value parse_number() {
    size_t start = i_;
    auto digit = [&](size_t k) { return k < n_ && s_[k] >= '0' && s_[k] <= '9'; };
    if (s_[i_] == '-') ++i_;
    if (!digit(i_)) fail("invalid number: expected a digit");
    if (s_[i_] == '0') {
      ++i_;
      if (digit(i_)) fail("invalid number: leading zero");
    } else {
      while (digit(i_)) ++i_;
    }
    if (i_ < n_ && s_[i_] == '.') {
      ++i_;
      if (!digit(i_)) fail("invalid number: expected a digit after '.'");
      while (digit(i_)) ++i_;
    }
    if (i_ < n_ && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < n_ && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digit(i_)) fail("invalid number: expected a digit in the exponent");
      while (digit(i_)) ++i_;
    }
    return Value::number_text(std::string(reinterpret_cast<const char*>(s_ + start), i_ - start));
  }

  uint32_t parse_hex4() {
    if (n_ - i_ < 4) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = s_[i_ + k];
      uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else fail_at("invalid hex digit in \\u escape", i_ + k);
      v = (v << 4) | d;
    }
    i_ += 4;
    return v;
  }

  std::string parse_string() {
    size_t open = i_;
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= n_) fail_at("unterminated string", open);
      unsigned char c = s_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in string");
      if (c == '\\') {
        size_t esc_at = i_;
        ++i_;
        if (i_ >= n_) fail_at("unterminated string", open);
        unsigned char e = s_[i_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = parse_hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at("lone low surrogate in \\u escape", esc_at);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              // A high surrogate must be followed by an escaped low surrogate.
              if (n_ - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u')
                fail_at("lone high surrogate in \\u escape", esc_at);
              i_ += 2;
              uint32_t lo = parse_hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail_at("high surrogate not followed by a low surrogate", esc_at);
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default:
            fail_at("invalid escape sequence", esc_at);
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      size_t len = utf8_sequence_length(s_, n_, i_);
      if (len == 0) fail("invalid UTF-8 in string");
      out.append(reinterpret_cast<const char*>(s_ + i_), len);
      i_ += len;
    }
  }
};

}  // namespace

Value parse(const char* text, size_t size, const ParseOptions& options) {
  Parser p(text, size, options);
  return p.parse_document();
}

// ---------------------------------------------------------------- writer

void append_quoted(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string quote(const std::string& s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

std::string quote_for_message(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return quote(s);
  size_t cut = max_bytes;
  // Step back over UTF-8 continuation bytes so the cut stays valid UTF-8.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string out = quote(s.substr(0, cut));
  out.insert(out.size() - 1, "...");
  return out;
}

void append(std::string& out, const Value& v) {
  switch (v.type()) {
    case Value::Type::Null: out += "null"; break;
    case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Type::Number: out += v.number_str(); break;
    case Value::Type::String: append_quoted(out, v.as_string()); break;
    case Value::Type::Array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        append(out, e);
      }
      out += ']';
      break;
    }
    case Value::Type::Object: {
      out += '{';
      bool first = true;
      for (const auto& m : v.as_object()) {
        if (!first) out += ',';
        first = false;
        append_quoted(out, m.first);
        out += ':';
        append(out, m.second);
      }
      out += '}';
      break;
    }
  }
}

std::string dump(const Value& v) {
  std::string out;
  append(out, v);
  return out;
}

}  // namespace json
}  // namespace chatbert
