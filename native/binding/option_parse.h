// Decoding options across the JS boundary, driven by a variant's table (generate/option_table.h):
//   ParseOptionObject  JS object -> options struct: unknown keys, wrong types and values out of
//                      range are errors naming the option; enums become the struct's enum classes;
//   OptionSpecToJs     the table as JS data, for the TypeScript layer's schema, defaults and help:
//                      [{ name, type: 'int'|'number'|'bool'|'enum', default, min?, max?, maxFrom?,
//                         values?, doc, internal? }]
#pragma once
#include <napi.h>

#include <cmath>
#include <string>

#include "generate/option_table.h"

namespace chatbert::js {

// `limit` is the value of the table's OptionLimit for this request (e.g. the slot length).
template <class Opts>
Opts ParseOptionObject(const Napi::Object& o, const OptionTable<Opts>& table, int64_t limit) {
  Napi::Env env = o.Env();
  // A misspelt option would otherwise be ignored silently; undefined values are absent ones.
  auto keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    bool known = false;
    for (const auto& f : table) known = known || k == f.name;
    if (!known && !o.Get(k).IsUndefined()) {
      std::string names;
      for (const auto& f : table)
        if (!f.internal) names += (names.empty() ? "" : ", ") + std::string(f.name);
      throw Napi::TypeError::New(env, "unknown generation option '" + k + "' (known: " + names + ")");
    }
  }
  Opts opt;
  for (const auto& f : table) {
    const Napi::Value v = o.Get(f.name);
    const std::string name = f.name;
    if (v.IsUndefined()) {
      if (f.default_for_limit) f.set(opt, static_cast<double>(f.default_for_limit(limit)));
      continue;
    }
    switch (f.type) {
      case OptionType::kBool:
        if (!v.IsBoolean()) throw Napi::TypeError::New(env, name + " must be a boolean");
        f.set(opt, v.As<Napi::Boolean>().Value() ? 1.0 : 0.0);
        break;
      case OptionType::kEnum: {
        if (!v.IsString()) throw Napi::TypeError::New(env, name + " must be a string");
        const std::string s = v.As<Napi::String>().Utf8Value();
        const int index = enum_index(*f.values, s);
        if (index < 0) throw Napi::RangeError::New(env, option_values_message(f, s));
        f.set(opt, static_cast<double>(index));
        break;
      }
      case OptionType::kInt:
      case OptionType::kNumber: {
        if (!v.IsNumber()) throw Napi::TypeError::New(env, name + " must be a number");
        const double d = v.As<Napi::Number>().DoubleValue();
        if (!std::isfinite(d)) throw Napi::RangeError::New(env, name + " must be finite");
        if (f.type == OptionType::kInt && std::floor(d) != d)
          throw Napi::TypeError::New(env, name + " must be an integer, got " + format_option_number(d));
        if (d < f.min || d > f.upper(limit)) throw Napi::RangeError::New(env, option_range_message(f, limit, d));
        f.set(opt, d);
        break;
      }
    }
  }
  return opt;
}

template <class Opts>
Napi::Array OptionSpecToJs(Napi::Env env, const OptionTable<Opts>& table) {
  const Opts defaults{};
  auto out = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& f = table[i];
    auto e = Napi::Object::New(env);
    e.Set("name", f.name);
    e.Set("type", option_type_name(f.type));
    const double d = f.get(defaults);
    if (f.default_for_limit) {
      e.Set("default", env.Null());  // depends on the model: doc says what
    } else if (f.type == OptionType::kBool) {
      e.Set("default", d != 0);
    } else if (f.type == OptionType::kEnum) {
      e.Set("default", (*f.values)[static_cast<size_t>(d)]);
    } else {
      e.Set("default", d);
    }
    if (f.type == OptionType::kInt || f.type == OptionType::kNumber) {
      e.Set("min", f.min);
      if (f.limit == OptionLimit::kNone)
        e.Set("max", f.max);
      else
        e.Set("maxFrom", option_limit_name(f.limit));
    }
    if (f.type == OptionType::kEnum) {
      auto values = Napi::Array::New(env, f.values->size());
      for (size_t j = 0; j < f.values->size(); ++j) values.Set(static_cast<uint32_t>(j), (*f.values)[j]);
      e.Set("values", values);
    }
    e.Set("doc", f.doc);
    if (f.internal) e.Set("internal", true);
    out.Set(static_cast<uint32_t>(i), e);
  }
  return out;
}

}  // namespace chatbert::js
