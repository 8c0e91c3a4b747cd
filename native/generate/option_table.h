// Decoding options described once. Each variant lists its options in one table of OptionField
// (generate/imr_options.cpp, generate/ed_options.cpp): the JS name, type, range, allowed values
// and doc are the table's; the default is the option struct's member initialiser, read through
// the table. The binding parses JS objects from the table (binding/option_parse.h) and hands it to
// JS (imrOptionSpec / edOptionSpec), where the TypeScript layer builds its schema, defaults and
// help from it. Enums are parsed once, at the boundary, into the struct's enum classes.
// Torch- and Node-free: plain C++.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace chatbert {

enum class OptionType { kInt, kNumber, kBool, kEnum };

// An upper bound that is a property of the model or request rather than a constant.
enum class OptionLimit { kNone, kSlotLength, kDecoderPositions };

inline const char* option_limit_name(OptionLimit l) {
  return l == OptionLimit::kSlotLength ? "slotLength" : l == OptionLimit::kDecoderPositions ? "decoderPositions" : "";
}

inline const char* option_type_name(OptionType t) {
  switch (t) {
    case OptionType::kInt: return "int";
    case OptionType::kNumber: return "number";
    case OptionType::kBool: return "bool";
    case OptionType::kEnum: return "enum";
  }
  return "";
}

template <class Opts>
struct OptionField {
  const char* name = "";  // as JS spells it (camelCase)
  OptionType type = OptionType::kInt;
  double min = 0, max = 0;                  // kInt, kNumber, inclusive
  OptionLimit limit = OptionLimit::kNone;   // when set, max is that limit
  const std::vector<const char*>* values = nullptr;  // kEnum: spellings, indexed by the enum's value
  const char* doc = "";
  bool internal = false;  // a testing hook: accepted, but not a user setting
  // Values travel as doubles (JS numbers): kBool 0/1, kEnum the index; integers up to 2^53 exactly.
  double (*get)(const Opts&) = nullptr;
  void (*set)(Opts&, double) = nullptr;
  // Set when the default depends on the limit (the spec then says default: null).
  int64_t (*default_for_limit)(int64_t limit) = nullptr;

  double upper(int64_t limit_value) const { return limit == OptionLimit::kNone ? max : static_cast<double>(limit_value); }
};

template <class Opts>
using OptionTable = std::vector<OptionField<Opts>>;

namespace option_detail {
template <class T>
struct member_of;
template <class O, class T>
struct member_of<T O::*> {
  using owner = O;
  using type = T;
};
template <auto M>
using owner_t = typename member_of<decltype(M)>::owner;
template <auto M>
using type_t = typename member_of<decltype(M)>::type;
}  // namespace option_detail

// Table entries bound to a member of the options struct.
template <auto M>
OptionField<option_detail::owner_t<M>> int_option(const char* name, double min, double max, const char* doc) {
  using O = option_detail::owner_t<M>;
  OptionField<O> f;
  f.name = name, f.type = OptionType::kInt, f.min = min, f.max = max, f.doc = doc;
  f.get = [](const O& o) { return static_cast<double>(o.*M); };
  f.set = [](O& o, double v) { o.*M = static_cast<option_detail::type_t<M>>(v); };
  return f;
}

template <auto M>
OptionField<option_detail::owner_t<M>> number_option(const char* name, double min, double max, const char* doc) {
  auto f = int_option<M>(name, min, max, doc);
  f.type = OptionType::kNumber;
  return f;
}

template <auto M>
OptionField<option_detail::owner_t<M>> bool_option(const char* name, const char* doc) {
  using O = option_detail::owner_t<M>;
  OptionField<O> f;
  f.name = name, f.type = OptionType::kBool, f.min = 0, f.max = 1, f.doc = doc;
  f.get = [](const O& o) { return o.*M ? 1.0 : 0.0; };
  f.set = [](O& o, double v) { o.*M = v != 0; };
  return f;
}

template <auto M>
OptionField<option_detail::owner_t<M>> enum_option(const char* name, const std::vector<const char*>& values, const char* doc) {
  using O = option_detail::owner_t<M>;
  using E = option_detail::type_t<M>;
  OptionField<O> f;
  f.name = name, f.type = OptionType::kEnum, f.values = &values, f.doc = doc;
  f.min = 0, f.max = static_cast<double>(values.size()) - 1;
  f.get = [](const O& o) { return static_cast<double>(static_cast<int>(o.*M)); };
  f.set = [](O& o, double v) { o.*M = static_cast<E>(static_cast<int>(v)); };
  return f;
}

// Numbers as JS writes them: 1e-06, 0.9, 100, 9007199254740992 (not 0.000001 or 100.000000).
inline std::string format_option_number(double v) {
  char buf[40];
  if (v > -1e17 && v < 1e17 && v == std::floor(v))
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// "NAME must be in [MIN, MAX], got V": the one wording for a value out of range.
template <class Opts>
std::string option_range_message(const OptionField<Opts>& f, int64_t limit, double got) {
  return std::string(f.name) + " must be in [" + format_option_number(f.min) + ", " + format_option_number(f.upper(limit)) + "], got " +
         format_option_number(got);
}

template <class Opts>
std::string option_values_message(const OptionField<Opts>& f, const std::string& got) {
  std::string list;
  for (const char* v : *f.values) list += (list.empty() ? "" : ", ") + std::string(v);
  return std::string(f.name) + " must be one of " + list + ", got '" + got + "'";
}

// The index of `spelling` among an enum's values, or -1.
inline int enum_index(const std::vector<const char*>& values, const std::string& spelling) {
  for (size_t i = 0; i < values.size(); ++i)
    if (spelling == values[i]) return static_cast<int>(i);
  return -1;
}

template <class E>
const char* enum_name(const std::vector<const char*>& values, E e) {
  return values.at(static_cast<size_t>(e));
}

// Checks every option's range (C++ callers that bypass the binding); throws std::invalid_argument.
template <class Opts>
void check_option_ranges(const OptionTable<Opts>& table, const Opts& o, int64_t limit) {
  for (const auto& f : table) {
    const double v = f.get(o);
    if (f.type == OptionType::kBool) continue;
    if (!(v >= f.min && v <= f.upper(limit))) {  // NaN fails too
      if (f.type == OptionType::kEnum) throw std::invalid_argument(std::string(f.name) + " holds no valid value");
      throw std::invalid_argument(option_range_message(f, limit, v));
    }
  }
}

// The names, for "unknown option" messages.
template <class Opts>
std::string option_names(const OptionTable<Opts>& table) {
  std::string s;
  for (const auto& f : table) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

}  // namespace chatbert
