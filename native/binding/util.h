// Shared helpers of the Node-API binding: argument validation, errors, typed arrays, and the
// promise-settling worker that every long operation runs on.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace chatbert::js {

// The message of the exception in flight: c10 errors without their C++ backtrace.
std::string CurrentExceptionMessage();

// Runs `execute` on the libuv thread pool, then settles a Promise on the JS thread with
// `resolve(env)` (or rejects with an Error carrying the exception's message). `self`, when given,
// is kept alive (a strong reference) until the work is done.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using ExecuteFn = std::function<void()>;
  using ResolveFn = std::function<Napi::Value(Napi::Env)>;
  static Napi::Promise Queue(Napi::Env env, Napi::Object self, ExecuteFn execute, ResolveFn resolve);

 protected:
  PromiseWorker(Napi::Env env, Napi::Object self, ExecuteFn execute, ResolveFn resolve);
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  ExecuteFn execute_;
  ResolveFn resolve_;
};

// Promise-returning methods never throw: a validation error becomes a rejected Promise.
template <typename F>
Napi::Value AsyncGuard(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  } catch (...) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::Error::New(env, CurrentExceptionMessage()).Value());
    return d.Promise();
  }
}

// Argument readers: each throws a TypeError / RangeError naming the argument.
std::vector<int32_t> Int32ArrayArg(const Napi::Value& v, const std::string& name);
std::vector<uint8_t> MaskArg(const Napi::Value& v, const std::string& name, size_t expected_length);
int64_t IntegerArg(const Napi::Value& v, const std::string& name, int64_t min, int64_t max);
double NumberArg(const Napi::Value& v, const std::string& name, double min, double max);
std::string StringArg(const Napi::Value& v, const std::string& name);
bool BoolArg(const Napi::Value& v, const std::string& name);

// Option readers over a JS object: an absent (undefined) key gives the default.
int64_t IntegerOption(const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max);
double NumberOption(const Napi::Object& o, const char* key, double def, double min, double max);
bool BoolOption(const Napi::Object& o, const char* key, bool def);
std::string StringOption(const Napi::Object& o, const char* key, const std::string& def);

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available). Throws when CUDA is asked for and absent.
torch::Device ParseDevice(const std::string& spec);

// Zero-copy typed array over a contiguous CPU tensor (float32 -> Float32Array, int32 ->
// Int32Array, int64 -> converted to Int32Array, uint8/bool -> Uint8Array); the tensor's storage
// lives as long as the array.
Napi::Value TensorToTypedArray(Napi::Env env, torch::Tensor t);

}  // namespace chatbert::js
