// Small strict JSON parser and writer, just enough for safetensors headers.
//
// Strict means RFC 8259 with no extensions: no comments, no trailing commas,
// no NaN/Infinity, no leading zeros, no unescaped control characters, valid
// UTF-8 only, no lone surrogates in \u escapes, and no duplicate object keys
// (RFC leaves duplicates undefined; for a header naming tensors we refuse to
// guess which one is meant). No LibTorch or other dependency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace chatbert {
namespace json {

class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& message, size_t offset);
  // Byte offset into the parsed text where the problem was found.
  size_t offset() const { return offset_; }
  // The message without the "at byte N" prefix.
  const std::string& detail() const { return detail_; }

 private:
  size_t offset_;
  std::string detail_;
};

class Value;
// Objects keep insertion order (the writer reproduces it; the parser has
// already rejected duplicate keys, so lookups are unambiguous).
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;
using Array = std::vector<Value>;

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Value() = default;  // null
  static Value null() { return Value(); }
  static Value boolean(bool b);
  // Numbers are kept as their validated source text so integers of any size
  // survive exactly; use as_uint64/as_int64/as_double to interpret them.
  static Value number_text(std::string text);
  static Value number(int64_t v);
  static Value number(uint64_t v);
  static Value string(std::string s);
  static Value array(Array a = {});
  static Value object(Object o = {});

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }

  // Accessors throw std::logic_error on a type mismatch (a programming error,
  // callers check the type first).
  bool as_bool() const;
  const std::string& as_string() const;   // for String
  const std::string& number_str() const;  // for Number: the source text
  const Array& as_array() const;
  const Object& as_object() const;
  Array& as_array();
  Object& as_object();

  // Integer views of a Number. Return false when the number is not written as
  // a plain integer (has a fraction or exponent) or does not fit the type.
  bool as_uint64(uint64_t& out) const;
  bool as_int64(int64_t& out) const;
  double as_double() const;

  // Object member lookup; nullptr if absent or not an object.
  const Value* get(const std::string& key) const;

 private:
  struct NumberText {
    std::string text;
  };
  // One alternative per Type, in the same order. A variant keeps a Value at
  // 40 bytes, which bounds the memory a hostile header can make us spend.
  std::variant<std::monostate, bool, NumberText, std::string, Array, Object> v_;
};

struct ParseOptions {
  // Maximum nesting of arrays/objects. Parsing is recursive, so this bounds
  // stack use on hostile input.
  int max_depth = 64;
  // Maximum elements in one array; larger arrays are rejected as soon as
  // the limit is passed rather than after materializing them.
  size_t max_array_length = static_cast<size_t>(-1);
};

// Pull parser: walks one JSON text token by token with the same strictness
// as parse(), so a consumer with a known schema can validate as it reads and
// stop at the first problem without building a parse tree. Every method
// throws ParseError on malformed input. It does not check for duplicate keys
// (the consumer knows which keys matter); parse() does.
//
//   r.begin_object();
//   while (r.next_key(key)) { switch on r.peek(): read_string() / read_value() / ... }
//   r.end();
class Reader {
 public:
  Reader(const char* text, size_t size, const ParseOptions& options = {});

  // Type of the next value (skips whitespace; consumes nothing).
  Value::Type peek();
  void begin_object();
  // Reads the next key and its ':'; false (and the '}' consumed) at the end.
  bool next_key(std::string& key);
  void begin_array();
  // True if another element follows (its ',' consumed); false at ']'.
  bool next_element();
  std::string read_string();
  std::string read_number();  // validated source text
  Value read_value();         // the whole next value as a tree
  // Only whitespace may remain.
  void end();

  // Byte offset of the next unread byte, and of the last key's opening quote.
  size_t offset() const { return i_; }
  size_t key_offset() const { return key_at_; }

 private:
  struct Level {
    bool first = true;
    size_t count = 0;
  };
  const unsigned char* s_;
  size_t n_;
  size_t i_ = 0;
  size_t key_at_ = 0;
  ParseOptions opt_;
  std::vector<Level> stack_;

  [[noreturn]] void fail(const std::string& msg) const;
  [[noreturn]] void fail_at(const std::string& msg, size_t at) const;
  std::string describe_here() const;
  void skip_ws();
  void expect_literal(const char* lit);
  void push_level();
  uint32_t parse_hex4();
  Value read_tree();
};

// Parses exactly one JSON value; only whitespace may follow it. Rejects
// duplicate object keys.
Value parse(const char* text, size_t size, const ParseOptions& options = {});
inline Value parse(const std::string& text, const ParseOptions& options = {}) {
  return parse(text.data(), text.size(), options);
}

// Checks that bytes form valid UTF-8 (no overlongs, surrogates or > U+10FFFF).
// On failure sets *bad_offset to the first offending byte when given.
bool is_valid_utf8(const char* s, size_t n, size_t* bad_offset = nullptr);

// Writer. Compact output (no spaces), object members in stored order, strings
// escaped like serde_json (", \, \b \f \n \r \t, other controls as \u00xx,
// non-ASCII left as UTF-8) so headers match the Python library byte for byte.
void append_quoted(std::string& out, const std::string& s);
std::string quote(const std::string& s);
// quote() cut to about max_bytes (at a UTF-8 boundary, marked with "...") so
// hostile keys cannot flood error messages.
std::string quote_for_message(const std::string& s, size_t max_bytes = 120);
void append(std::string& out, const Value& v);
std::string dump(const Value& v);

}  // namespace json
}  // namespace chatbert
