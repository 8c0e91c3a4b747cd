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
  v.v_ = b;
  return v;
}

Value Value::number_text(std::string text) {
  Value v;
  v.v_ = NumberText{std::move(text)};
  return v;
}

Value Value::number(int64_t n) { return number_text(std::to_string(n)); }
Value Value::number(uint64_t n) { return number_text(std::to_string(n)); }

Value Value::string(std::string s) {
  Value v;
  v.v_ = std::move(s);
  return v;
}

Value Value::array(Array a) {
  Value v;
  v.v_ = std::move(a);
  return v;
}

Value Value::object(Object o) {
  Value v;
  v.v_ = std::move(o);
  return v;
}

// Returns the alternative or throws: a mismatch is a caller bug.
template <typename T, typename V>
static auto& get_or_throw(V& v, const char* what) {
  auto* p = std::get_if<T>(&v);
  if (!p) throw std::logic_error(std::string("json::Value is not ") + what);
  return *p;
}

bool Value::as_bool() const { return get_or_throw<bool>(v_, "a boolean"); }
const std::string& Value::as_string() const { return get_or_throw<std::string>(v_, "a string"); }
const std::string& Value::number_str() const { return get_or_throw<NumberText>(v_, "a number").text; }
const Array& Value::as_array() const { return get_or_throw<Array>(v_, "an array"); }
const Object& Value::as_object() const { return get_or_throw<Object>(v_, "an object"); }
Array& Value::as_array() { return get_or_throw<Array>(v_, "an array"); }
Object& Value::as_object() { return get_or_throw<Object>(v_, "an object"); }

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
  const NumberText* n = std::get_if<NumberText>(&v_);
  if (!n) return false;
  bool neg;
  uint64_t mag;
  if (!parse_magnitude(n->text, neg, mag)) return false;
  if (neg && mag != 0) return false;  // "-0" is zero
  out = mag;
  return true;
}

bool Value::as_int64(int64_t& out) const {
  const NumberText* n = std::get_if<NumberText>(&v_);
  if (!n) return false;
  bool neg;
  uint64_t mag;
  if (!parse_magnitude(n->text, neg, mag)) return false;
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
  // Classic locale: strtod would honour a ',' decimal separator set by the host.
  std::istringstream in(number_str());
  in.imbue(std::locale::classic());
  double d = 0;
  in >> d;
  return d;  // out of range gives +-inf or 0 via the stream, fine for our use
}

const Value* Value::get(const std::string& key) const {
  const Object* obj = std::get_if<Object>(&v_);
  if (!obj) return nullptr;
  for (const auto& m : *obj)
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

Reader::Reader(const char* text, size_t size, const ParseOptions& options)
    : s_(reinterpret_cast<const unsigned char*>(text)), n_(size), opt_(options) {}

void Reader::fail(const std::string& msg) const { throw ParseError(msg, i_); }
void Reader::fail_at(const std::string& msg, size_t at) const { throw ParseError(msg, at); }

std::string Reader::describe_here() const {
  if (i_ >= n_) return "end of input";
  unsigned char c = s_[i_];
  if (c >= 0x20 && c < 0x7F) return std::string("character '") + static_cast<char>(c) + "'";
  static const char* hex = "0123456789abcdef";
  std::string r = "byte 0x";
  r += hex[c >> 4];
  r += hex[c & 15];
  return r;
}

void Reader::skip_ws() {
  while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
}

void Reader::expect_literal(const char* lit) {
  size_t len = std::strlen(lit);
  if (n_ - i_ < len || std::memcmp(s_ + i_, lit, len) != 0) fail("invalid literal, expected '" + std::string(lit) + "'");
  i_ += len;
}

Value::Type Reader::peek() {
  skip_ws();
  if (i_ >= n_) fail("unexpected end of input, expected a value");
  unsigned char c = s_[i_];
  switch (c) {
    case '{': return Value::Type::Object;
    case '[': return Value::Type::Array;
    case '"': return Value::Type::String;
    case 't': case 'f': return Value::Type::Bool;
    case 'n': return Value::Type::Null;
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return Value::Type::Number;
      fail("unexpected " + describe_here() + ", expected a value");
  }
}

void Reader::push_level() {
  // Depth is bounded because Value trees and their destructors recurse.
  if (stack_.size() >= static_cast<size_t>(opt_.max_depth < 0 ? 0 : opt_.max_depth))
    fail("nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
  ++i_;  // '{' or '['
  stack_.push_back(Level{});
}

void Reader::begin_object() {
  if (peek() != Value::Type::Object) fail("unexpected " + describe_here() + ", expected '{'");
  push_level();
}

bool Reader::next_key(std::string& key) {
  if (stack_.empty()) fail("next_key outside an object");
  Level& lv = stack_.back();
  skip_ws();
  if (lv.first) {
    if (i_ < n_ && s_[i_] == '}') {
      ++i_;
      stack_.pop_back();
      return false;
    }
  } else {
    if (i_ < n_ && s_[i_] == '}') {
      ++i_;
      stack_.pop_back();
      return false;
    }
    if (i_ >= n_ || s_[i_] != ',') fail("unexpected " + describe_here() + ", expected ',' or '}'");
    ++i_;
    skip_ws();
  }
  lv.first = false;
  if (i_ >= n_ || s_[i_] != '"') fail("unexpected " + describe_here() + ", expected a string key");
  key_at_ = i_;
  key = read_string();
  skip_ws();
  if (i_ >= n_ || s_[i_] != ':') fail("unexpected " + describe_here() + ", expected ':'");
  ++i_;
  return true;
}

void Reader::begin_array() {
  if (peek() != Value::Type::Array) fail("unexpected " + describe_here() + ", expected '['");
  push_level();
}

bool Reader::next_element() {
  if (stack_.empty()) fail("next_element outside an array");
  Level& lv = stack_.back();
  skip_ws();
  if (i_ < n_ && s_[i_] == ']') {
    ++i_;
    stack_.pop_back();
    return false;
  }
  if (!lv.first) {
    if (i_ >= n_ || s_[i_] != ',') fail("unexpected " + describe_here() + ", expected ',' or ']'");
    ++i_;
    skip_ws();  // a ']' now is a trailing comma: the value parser reports it
  }
  lv.first = false;
  if (lv.count >= opt_.max_array_length)
    fail("array longer than " + std::to_string(opt_.max_array_length) + " elements");
  ++lv.count;
  return true;
}

std::string Reader::read_number() {
  if (peek() != Value::Type::Number) fail("unexpected " + describe_here() + ", expected a number");
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
  return std::string(reinterpret_cast<const char*>(s_ + start), i_ - start);
}

uint32_t Reader::parse_hex4() {
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

std::string Reader::read_string() {
  if (peek() != Value::Type::String) fail("unexpected " + describe_here() + ", expected a string");
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
            if (n_ - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u') fail_at("lone high surrogate in \\u escape", esc_at);
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

Value Reader::read_value() { return read_tree(); }

Value Reader::read_tree() {
  switch (peek()) {
    case Value::Type::Null: expect_literal("null"); return Value::null();
    case Value::Type::Bool:
      if (s_[i_] == 't') {
        expect_literal("true");
        return Value::boolean(true);
      }
      expect_literal("false");
      return Value::boolean(false);
    case Value::Type::Number: return Value::number_text(read_number());
    case Value::Type::String: return Value::string(read_string());
    case Value::Type::Array: {
      begin_array();
      Array arr;
      while (next_element()) arr.push_back(read_tree());
      return Value::array(std::move(arr));
    }
    case Value::Type::Object: {
      begin_object();
      Object obj;
      // Linear lookup would make hostile objects with many keys quadratic.
      std::unordered_set<std::string> seen;
      std::string key;
      while (next_key(key)) {
        if (!seen.insert(key).second) fail_at("duplicate key " + quote_for_message(key), key_at_);
        Value v = read_tree();
        obj.emplace_back(std::move(key), std::move(v));
      }
      return Value::object(std::move(obj));
    }
  }
  fail("unreachable");
}

void Reader::end() {
  skip_ws();
  if (!stack_.empty()) fail("unexpected " + describe_here() + ", value not finished");
  if (i_ != n_) fail("unexpected " + describe_here() + " after the JSON value");
}

Value parse(const char* text, size_t size, const ParseOptions& options) {
  Reader r(text, size, options);
  Value v = r.read_value();
  r.end();
  return v;
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
