// The part every streaming generation worker shares (IMR iterations, ED tokens): a Promise that
// settles with the result, a reference keeping the model's JS object alive, the user's callback
// called on the JS thread with each step (an exception there rejects the generation instead of
// crashing the process), and an abort flag that JS sets in shared memory.
#pragma once
#include <napi.h>

#include <atomic>
#include <string>

namespace chatbert::js {

// The optional `name` callback of a request: a function, or undefined/null for none.
inline Napi::Value OptionalCallback(const Napi::Object& request, const char* name) {
  auto v = request.Get(name);
  if (v.IsUndefined() || v.IsNull()) return request.Env().Undefined();
  if (!v.IsFunction()) throw Napi::TypeError::New(request.Env(), std::string(name) + " must be a function");
  return v;
}

// The optional abort flag of a request: an Int32Array (over a SharedArrayBuffer), or undefined.
inline Napi::Value OptionalAbortFlag(const Napi::Object& request) {
  auto v = request.Get("abort");
  if (v.IsUndefined()) return v;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || v.As<Napi::TypedArray>().ElementLength() < 1)
    throw Napi::TypeError::New(request.Env(), "abort must be an Int32Array (over a SharedArrayBuffer) of length >= 1");
  return v;
}

template <typename Step>
class StreamingWorker : public Napi::AsyncProgressQueueWorker<Step> {
 public:
  // `callback` and `abort` come from OptionalCallback / OptionalAbortFlag; `callback_name` names
  // the callback in the error its exception becomes.
  StreamingWorker(Napi::Env env, const char* resource, Napi::Object model, Napi::Value callback, Napi::Value abort, std::string callback_name)
      : Napi::AsyncProgressQueueWorker<Step>(env, resource),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_ref_(Napi::Persistent(model)),
        callback_name_(std::move(callback_name)) {
    if (callback.IsFunction()) callback_ref_ = Napi::Persistent(callback.As<Napi::Function>());
    if (abort.IsTypedArray()) {
      abort_ref_ = Napi::Persistent(abort.As<Napi::Object>());
      abort_flag_ = reinterpret_cast<const std::atomic<int32_t>*>(abort.As<Napi::Int32Array>().Data());
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  bool HasCallback() const { return !callback_ref_.IsEmpty(); }
  const std::atomic<int32_t>* AbortFlag() const { return abort_flag_; }
  // The JS value of one step, made on the JS thread.
  virtual Napi::Object StepValue(Napi::Env env, const Step& step) = 0;
  // The JS value the Promise resolves with, made on the JS thread.
  virtual Napi::Value Result(Napi::Env env) = 0;

  void OnProgress(const Step* data, size_t count) override {
    if (callback_ref_.IsEmpty()) return;
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; ++i) {
      try {
        callback_ref_.Call({StepValue(env, data[i])});
      } catch (const Napi::Error& e) {
        if (callback_error_.empty()) callback_error_ = e.Message();
      }
    }
  }

  void OnOK() override {
    Napi::Env env = this->Env();
    if (!callback_error_.empty()) {
      deferred_.Reject(Napi::Error::New(env, callback_name_ + " callback threw: " + callback_error_).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference model_ref_, abort_ref_;
  Napi::FunctionReference callback_ref_;
  const std::atomic<int32_t>* abort_flag_ = nullptr;
  std::string callback_name_;
  std::string callback_error_;
};

}  // namespace chatbert::js
