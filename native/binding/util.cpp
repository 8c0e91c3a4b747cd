#include "binding/util.h"

#include <cmath>

#include "torch_compat.h"

namespace chatbert::js {

std::string CurrentExceptionMessage() {
  try {
    throw;
  } catch (const c10::Error& e) {
    return compat::error_message(e);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown native error";
  }
}

PromiseWorker::PromiseWorker(Napi::Env env, Napi::Object self, ExecuteFn execute, ResolveFn resolve)
    : Napi::AsyncWorker(env, "chatbert"),
      deferred_(Napi::Promise::Deferred::New(env)),
      execute_(std::move(execute)),
      resolve_(std::move(resolve)) {
  if (!self.IsEmpty()) self_ = Napi::Persistent(self);
}

Napi::Promise PromiseWorker::Queue(Napi::Env env, Napi::Object self, ExecuteFn execute, ResolveFn resolve) {
  auto* w = new PromiseWorker(env, self, std::move(execute), std::move(resolve));
  auto promise = w->deferred_.Promise();
  w->Napi::AsyncWorker::Queue();
  return promise;
}

void PromiseWorker::Execute() {
  try {
    execute_();
  } catch (...) {
    SetError(CurrentExceptionMessage());
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(resolve_ ? resolve_(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (...) {
    deferred_.Reject(Napi::Error::New(env, CurrentExceptionMessage()).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& e) { deferred_.Reject(e.Value()); }

std::vector<int32_t> Int32ArrayArg(const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(v.Env(), name + " must be an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<uint8_t> MaskArg(const Napi::Value& v, const std::string& name, size_t expected_length) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), name + " must be an Int32Array or Uint8Array");
  auto t = v.As<Napi::TypedArray>();
  if (t.ElementLength() != expected_length)
    throw Napi::RangeError::New(v.Env(), name + " has " + std::to_string(t.ElementLength()) + " elements, expected " + std::to_string(expected_length));
  std::vector<uint8_t> out(expected_length);
  auto check = [&](int64_t x, size_t i) {
    if (x != 0 && x != 1) throw Napi::RangeError::New(v.Env(), name + "[" + std::to_string(i) + "] is " + std::to_string(x) + "; a mask holds 0 or 1");
    out[i] = static_cast<uint8_t>(x);
  };
  if (t.TypedArrayType() == napi_int32_array) {
    auto a = v.As<Napi::Int32Array>();
    for (size_t i = 0; i < expected_length; ++i) check(a[i], i);
  } else if (t.TypedArrayType() == napi_uint8_array) {
    auto a = v.As<Napi::Uint8Array>();
    for (size_t i = 0; i < expected_length; ++i) check(a[i], i);
  } else {
    throw Napi::TypeError::New(v.Env(), name + " must be an Int32Array or Uint8Array");
  }
  return out;
}

int64_t IntegerArg(const Napi::Value& v, const std::string& name, int64_t min, int64_t max) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) throw Napi::TypeError::New(v.Env(), name + " must be an integer, got " + std::to_string(d));
  if (d < static_cast<double>(min) || d > static_cast<double>(max))
    throw Napi::RangeError::New(v.Env(), name + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + std::to_string(static_cast<int64_t>(d)));
  return static_cast<int64_t>(d);
}

double NumberArg(const Napi::Value& v, const std::string& name, double min, double max) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw Napi::RangeError::New(v.Env(), name + " must be finite");
  if (d < min || d > max) throw Napi::RangeError::New(v.Env(), name + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + std::to_string(d));
  return d;
}

std::string StringArg(const Napi::Value& v, const std::string& name) {
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), name + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool BoolArg(const Napi::Value& v, const std::string& name) {
  if (!v.IsBoolean()) throw Napi::TypeError::New(v.Env(), name + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

int64_t IntegerOption(const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max) {
  auto v = o.Get(key);
  return v.IsUndefined() ? def : IntegerArg(v, key, min, max);
}
double NumberOption(const Napi::Object& o, const char* key, double def, double min, double max) {
  auto v = o.Get(key);
  return v.IsUndefined() ? def : NumberArg(v, key, min, max);
}
bool BoolOption(const Napi::Object& o, const char* key, bool def) {
  auto v = o.Get(key);
  return v.IsUndefined() ? def : BoolArg(v, key);
}
std::string StringOption(const Napi::Object& o, const char* key, const std::string& def) {
  auto v = o.Get(key);
  return v.IsUndefined() ? def : StringArg(v, key);
}

torch::Device ParseDevice(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw std::invalid_argument("device '" + spec + "' was requested but CUDA is not available (this LibTorch " +
                                  compat::torch_version() + " has no CUDA, or no GPU is visible)");
    int64_t index = 0;
    if (spec.size() > 4) {
      if (spec[4] != ':' || spec.size() == 5 || spec.find_first_not_of("0123456789", 5) != std::string::npos)
        throw std::invalid_argument("device '" + spec + "' is not of the form cuda or cuda:N");
      index = std::stoll(spec.substr(5));
    }
    if (index >= static_cast<int64_t>(torch::cuda::device_count()))
      throw std::invalid_argument("device '" + spec + "': only " + std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("unknown device '" + spec + "' (use cpu, cuda, cuda:N or auto)");
}

Napi::Value TensorToTypedArray(Napi::Env env, torch::Tensor t) {
  t = t.detach().to(torch::kCPU);
  if (t.scalar_type() == torch::kInt64) t = t.to(torch::kInt32);
  if (t.scalar_type() == torch::kBool) t = t.to(torch::kUInt8);
  if (t.scalar_type() == torch::kFloat16 || t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kFloat64) t = t.to(torch::kFloat32);
  t = t.contiguous();
  const size_t n = t.numel();
  const size_t bytes = n * t.element_size();
  // The ArrayBuffer borrows the tensor's storage; the heap-held Tensor keeps it alive until V8
  // collects the buffer. An empty tensor gets a plain empty buffer.
  Napi::ArrayBuffer buf;
  if (bytes == 0) {
    buf = Napi::ArrayBuffer::New(env, 0);
  } else {
    auto* holder = new torch::Tensor(t);
    buf = Napi::ArrayBuffer::New(env, holder->data_ptr(), bytes, [](Napi::Env, void*, torch::Tensor* h) { delete h; }, holder);
  }
  switch (t.scalar_type()) {
    case torch::kFloat32: return Napi::Float32Array::New(env, n, buf, 0);
    case torch::kInt32: return Napi::Int32Array::New(env, n, buf, 0);
    case torch::kUInt8: return Napi::Uint8Array::New(env, n, buf, 0);
    default: throw Napi::TypeError::New(env, std::string("cannot return a tensor of dtype ") + c10::toString(t.scalar_type()));
  }
}

}  // namespace chatbert::js
