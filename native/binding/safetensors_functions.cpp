// Node-API glue for native/io/safetensors.{h,cpp}. Every C++ exception is
// turned into a JS exception or a rejected promise: nothing here may abort.
#include "safetensors_functions.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../io/json.h"
#include "../io/safetensors.h"

#if !defined(NAPI_CPP_EXCEPTIONS) && !defined(NODE_ADDON_API_CPP_EXCEPTIONS)
#error "safetensors_functions.cpp needs C++ exceptions in node-addon-api (define NAPI_CPP_EXCEPTIONS)"
#endif

namespace st = chatbert::safetensors;

namespace {

// Largest integer a JS number holds exactly (Number.MAX_SAFE_INTEGER).
constexpr double kMaxSafeInteger = 9007199254740991.0;

bool host_is_big_endian() {
  const uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 0;
}

// safetensors data is little-endian; TypedArrays use host order.
void to_from_little_endian(uint8_t* p, size_t nbytes, size_t item) {
  if (item < 2 || !host_is_big_endian()) return;
  for (size_t i = 0; i + item <= nbytes; i += item)
    for (size_t a = 0, b = item - 1; a < b; ++a, --b) std::swap(p[i + a], p[i + b]);
}

// Same quoting as the core's messages: one line, escaped, length-capped.
std::string quoted(const std::string& name) {
  std::string q = chatbert::json::quote_for_message(name);
  return "'" + q.substr(1, q.size() - 2) + "'";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Own, enumerable, string-keyed properties (Object.keys semantics): for-in
// style enumeration would also pick up inherited enumerable properties.
// Returns the JS key with its UTF-8 text; look values up by the JS key,
// since a name containing NUL would be cut short as a C string.
std::vector<std::pair<Napi::Value, std::string>> own_keys(Napi::Env env, Napi::Object obj) {
  napi_value names;
  napi_status s = napi_get_all_property_names(env, obj, napi_key_own_only,
                                              static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
                                              napi_key_numbers_to_strings, &names);
  NAPI_THROW_IF_FAILED(env, s, {});
  Napi::Array arr(env, names);
  std::vector<std::pair<Napi::Value, std::string>> keys;
  keys.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value k = arr.Get(i);
    keys.emplace_back(k, k.As<Napi::String>().Utf8Value());
  }
  return keys;
}

// Defines an own data property. Unlike Set(), this cannot trigger setters,
// so a tensor named "__proto__" from a file becomes a plain key instead of
// replacing the result object's prototype. The key is passed as a JS string
// so names containing NUL stay distinct.
void define_own(Napi::Env env, Napi::Object obj, const std::string& key, Napi::Value value) {
  napi_property_descriptor d{};
  d.name = Napi::String::New(env, key);
  d.value = value;
  d.attributes = static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);
  napi_status s = napi_define_properties(env, obj, 1, &d);
  NAPI_THROW_IF_FAILED_VOID(env, s);
}

std::string path_arg(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, std::string(fn) + ": path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty()) throw Napi::TypeError::New(env, std::string(fn) + ": path must not be empty");
  // A NUL would silently cut the path at the C boundary.
  if (path.find('\0') != std::string::npos)
    throw Napi::TypeError::New(env, std::string(fn) + ": path must not contain NUL characters");
  return path;
}

Napi::Array shape_to_js(Napi::Env env, const st::TensorInfo& t) {
  Napi::Array shape = Napi::Array::New(env, t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) {
    // Only possible for zero-element tensors (others are bounded by the file
    // size), but a rounded dim would be a silent lie.
    if (static_cast<double>(t.shape[i]) > kMaxSafeInteger)
      throw Napi::RangeError::New(env, "tensor " + quoted(t.name) + ": dimension " + std::to_string(t.shape[i]) +
                                           " is beyond JavaScript's safe integer range");
    shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.shape[i])));
  }
  return shape;
}

Napi::Object metadata_to_js(Napi::Env env, const std::map<std::string, std::string>& metadata) {
  Napi::Object meta = Napi::Object::New(env);
  for (const auto& kv : metadata) define_own(env, meta, kv.first, Napi::String::New(env, kv.second));
  return meta;
}

napi_typedarray_type typed_array_type(st::DType dt) {
  switch (dt) {
    case st::DType::F64: return napi_float64_array;
    case st::DType::F32: return napi_float32_array;
    case st::DType::F16: return napi_uint16_array;  // raw half bits
    case st::DType::BF16: return napi_uint16_array;  // raw bfloat16 bits
    case st::DType::I64: return napi_bigint64_array;
    case st::DType::I32: return napi_int32_array;
    case st::DType::I16: return napi_int16_array;
    case st::DType::I8: return napi_int8_array;
    case st::DType::U8: return napi_uint8_array;
    case st::DType::BOOL: return napi_uint8_array;
  }
  return napi_uint8_array;
}

Napi::Value make_typed_array(Napi::Env env, st::DType dt, const uint8_t* src, size_t nbytes) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, nbytes);
  const size_t item = st::dtype_size(dt);
  if (nbytes) {
    uint8_t* dst = static_cast<uint8_t*>(ab.Data());
    std::memcpy(dst, src, nbytes);
    to_from_little_endian(dst, nbytes, item);
  }
  napi_value out;
  napi_status s = napi_create_typedarray(env, typed_array_type(dt), nbytes / item, ab, 0, &out);
  NAPI_THROW_IF_FAILED(env, s, Napi::Value());
  return Napi::Value(env, out);
}

// Converts std exceptions (safetensors::Error, bad_alloc, ...) into JS
// errors; node-addon-api itself only catches Napi::Error, and anything else
// escaping a callback would terminate the process.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  } catch (...) {
    throw Napi::Error::New(info.Env(), "unknown native error");
  }
}

// Resolves/rejects a promise from the result of a worker. OnOK may itself
// fail (e.g. ArrayBuffer allocation); that must reject, not throw into the
// event loop where it would be an uncaught exception.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, name), deferred_(deferred) {}

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result() = 0;

  void Execute() override {
    try {
      Run();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Result());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
};

// ---------------------------------------------------------------- inspect

Napi::Value InspectSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = path_arg(info, "inspectSafetensors");
  st::Header h = st::read_header(path);

  Napi::Array tensors = Napi::Array::New(env, h.tensors.size());
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const st::TensorInfo& t = h.tensors[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", Napi::String::New(env, t.name));
    o.Set("dtype", Napi::String::New(env, st::dtype_name(t.dtype)));
    o.Set("shape", shape_to_js(env, t));
    o.Set("byteLength", Napi::Number::New(env, static_cast<double>(t.end - t.begin)));
    tensors.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("tensors", tensors);
  result.Set("metadata", metadata_to_js(env, h.metadata));
  return result;
}

// ---------------------------------------------------------------- read

class ReadWorker : public PromiseWorker {
 public:
  ReadWorker(Napi::Env env, std::string path, Napi::Promise::Deferred d)
      : PromiseWorker(env, "chatbert.readSafetensors", d), path_(std::move(path)) {}

 protected:
  void Run() override { file_ = std::make_unique<st::File>(st::File::open(path_)); }

  Napi::Value Result() override {
    Napi::Env env = Env();
    const st::Header& h = file_->header();
    Napi::Object tensors = Napi::Object::New(env);
    for (const st::TensorInfo& t : h.tensors) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("dtype", Napi::String::New(env, st::dtype_name(t.dtype)));
      o.Set("shape", shape_to_js(env, t));
      o.Set("data", make_typed_array(env, t.dtype, file_->data(t), static_cast<size_t>(t.end - t.begin)));
      define_own(env, tensors, t.name, o);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("tensors", tensors);
    result.Set("metadata", metadata_to_js(env, h.metadata));
    file_.reset();  // the bytes now live in the ArrayBuffers
    return result;
  }

 private:
  std::string path_;
  std::unique_ptr<st::File> file_;
};

Napi::Value ReadSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    std::string path = path_arg(info, "readSafetensors");
    (new ReadWorker(env, std::move(path), deferred))->Queue();  // deletes itself when done
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  }
  return deferred.Promise();
}

// ---------------------------------------------------------------- write

struct OwnedTensor {
  std::string name;
  st::DType dtype = st::DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Reads a TypedArray/DataView/Buffer's bytes; false if `v` is none of them.
bool view_bytes(Napi::Env env, Napi::Value v, const uint8_t*& data, size_t& nbytes) {
  void* p = nullptr;
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    napi_status s = napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset);
    NAPI_THROW_IF_FAILED(env, s, false);
    nbytes = v.As<Napi::TypedArray>().ByteLength();
  } else if (v.IsDataView()) {
    napi_value ab;
    size_t offset;
    napi_status s = napi_get_dataview_info(env, v, &nbytes, &p, &ab, &offset);
    NAPI_THROW_IF_FAILED(env, s, false);
  } else {
    return false;
  }
  data = static_cast<const uint8_t*>(p);
  if (data == nullptr) nbytes = 0;  // detached buffer
  return true;
}

OwnedTensor parse_tensor_arg(Napi::Env env, const std::string& name, Napi::Value v) {
  const std::string ctx = "writeSafetensors: tensor " + quoted(name) + ": ";
  if (name == "__metadata__")
    throw Napi::TypeError::New(env, ctx + "the name '__metadata__' is reserved for metadata");
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throw Napi::TypeError::New(env, ctx + "must be an object { dtype, shape, data }");
  Napi::Object o = v.As<Napi::Object>();

  OwnedTensor t;
  t.name = name;

  Napi::Value dtype = o.Get("dtype");
  if (!dtype.IsString()) throw Napi::TypeError::New(env, ctx + "dtype must be a string");
  try {
    t.dtype = st::parse_dtype(dtype.As<Napi::String>().Utf8Value());
  } catch (const st::Error& e) {
    throw Napi::TypeError::New(env, ctx + e.what());
  }

  Napi::Value shape = o.Get("shape");
  if (!shape.IsArray()) throw Napi::TypeError::New(env, ctx + "shape must be an array of non-negative integers");
  Napi::Array dims = shape.As<Napi::Array>();
  const uint32_t rank = dims.Length();
  if (rank > st::kMaxRank)
    throw Napi::RangeError::New(env, ctx + "rank " + std::to_string(rank) + " exceeds the limit of " +
                                         std::to_string(st::kMaxRank));
  t.shape.reserve(rank);
  for (uint32_t i = 0; i < rank; ++i) {
    Napi::Value d = dims.Get(i);
    const std::string at = ctx + "shape[" + std::to_string(i) + "] ";
    if (!d.IsNumber()) throw Napi::TypeError::New(env, at + "must be a number");
    double x = d.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x) || x != std::floor(x))
      throw Napi::RangeError::New(env, at + "is " + d.ToString().Utf8Value() + "; dims must be integers");
    if (x < 0) throw Napi::RangeError::New(env, at + "is " + d.ToString().Utf8Value() + "; dims must be non-negative");
    if (x > kMaxSafeInteger) throw Napi::RangeError::New(env, at + "is too large");
    t.shape.push_back(static_cast<int64_t>(x));
  }

  uint64_t numel = 1;
  for (int64_t d : t.shape) {
    uint64_t ud = static_cast<uint64_t>(d);
    if (ud != 0 && numel > (UINT64_MAX / 8) / ud)
      throw Napi::RangeError::New(env, ctx + "shape " + shape_str(t.shape) + " has too many elements");
    numel *= ud;
  }
  const uint64_t need = numel * st::dtype_size(t.dtype);

  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  if (!view_bytes(env, o.Get("data"), data, nbytes))
    throw Napi::TypeError::New(env, ctx + "data must be an ArrayBufferView (TypedArray, Buffer or DataView)");
  if (static_cast<uint64_t>(nbytes) != need)
    throw Napi::RangeError::New(env, ctx + "data.byteLength is " + std::to_string(nbytes) + " but shape " +
                                         shape_str(t.shape) + " of " + st::dtype_name(t.dtype) + " needs " +
                                         std::to_string(need) + " bytes");
  // Copy now: the caller may reuse or detach the buffer once we return.
  t.bytes.assign(data, data + nbytes);
  to_from_little_endian(t.bytes.data(), t.bytes.size(), st::dtype_size(t.dtype));
  return t;
}

class WriteWorker : public PromiseWorker {
 public:
  WriteWorker(Napi::Env env, std::string path, std::vector<OwnedTensor> tensors,
              std::map<std::string, std::string> metadata, Napi::Promise::Deferred d)
      : PromiseWorker(env, "chatbert.writeSafetensors", d),
        path_(std::move(path)),
        tensors_(std::move(tensors)),
        metadata_(std::move(metadata)) {}

 protected:
  void Run() override {
    std::vector<st::TensorView> views;
    views.reserve(tensors_.size());
    for (const auto& t : tensors_) views.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
    st::write_file(path_, views, metadata_);
    tensors_.clear();
  }
  Napi::Value Result() override { return Env().Undefined(); }

 private:
  std::string path_;
  std::vector<OwnedTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

Napi::Value WriteSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    std::string path = path_arg(info, "writeSafetensors");
    if (info.Length() < 2 || !info[1].IsObject() || info[1].IsArray())
      throw Napi::TypeError::New(env, "writeSafetensors: tensors must be an object mapping names to tensors");
    Napi::Object obj = info[1].As<Napi::Object>();
    std::vector<OwnedTensor> tensors;
    std::set<std::string> names;
    for (const auto& key : own_keys(env, obj)) {
      // Distinct JS keys can meet in UTF-8 (lone surrogates become U+FFFD).
      if (!names.insert(key.second).second)
        throw Napi::TypeError::New(env, "writeSafetensors: tensor " + quoted(key.second) +
                                            ": two names are the same once converted to UTF-8");
      tensors.push_back(parse_tensor_arg(env, key.second, obj.Get(key.first)));
    }

    std::map<std::string, std::string> metadata;
    if (info.Length() >= 3 && !info[2].IsUndefined() && !info[2].IsNull()) {
      if (!info[2].IsObject() || info[2].IsArray())
        throw Napi::TypeError::New(env, "writeSafetensors: metadata must be an object of strings");
      Napi::Object m = info[2].As<Napi::Object>();
      for (const auto& key : own_keys(env, m)) {
        Napi::Value v = m.Get(key.first);
        if (!v.IsString())
          throw Napi::TypeError::New(env, "writeSafetensors: metadata " + quoted(key.second) + " must be a string");
        metadata[key.second] = v.As<Napi::String>().Utf8Value();
      }
    }
    (new WriteWorker(env, std::move(path), std::move(tensors), std::move(metadata), deferred))->Queue();
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  } catch (const std::exception& e) {
    deferred.Reject(Napi::Error::New(env, e.what()).Value());
  }
  return deferred.Promise();
}

}  // namespace

void InitSafetensorsFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectSafetensors", Napi::Function::New(env, guarded<InspectSafetensors>, "inspectSafetensors"));
  exports.Set("readSafetensors", Napi::Function::New(env, guarded<ReadSafetensors>, "readSafetensors"));
  exports.Set("writeSafetensors", Napi::Function::New(env, guarded<WriteSafetensors>, "writeSafetensors"));
}
