// The part every streaming generation worker shares (IMR iterations, ED tokens): a Promise that
// settles with the result, a reference keeping the model's JS object alive, the user's callback
// called on the JS thread with each step (an exception there rejects the generation instead of
// crashing the process), and an abort flag that JS sets in shared memory.
//
// Backpressure (IMR): a callback may return a Promise, and the generation then waits for it
// before its next step, so a display can set the pace (the REPL's `/steps on MS`). The worker
// waits in SendStep until JS has handled the step it sent; the wait ends early when JS aborts or
// the process exits (a worker stuck there would hold up libuv's thread-pool join at exit).
#pragma once
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
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

// Set when the process or the addon's environment goes away: waits for JS end then.
std::atomic<bool>& ShuttingDown();

template <typename Step>
class StreamingWorker : public Napi::AsyncProgressQueueWorker<Step> {
 public:
  // `callback` and `abort` come from OptionalCallback / OptionalAbortFlag; `callback_name` names
  // the callback in the error its exception becomes.
  // `await_callback`: the worker waits for each step's callback (and the Promise it returns).
  StreamingWorker(Napi::Env env, const char* resource, Napi::Object model, Napi::Value callback, Napi::Value abort, std::string callback_name,
                  bool await_callback = false)
      : Napi::AsyncProgressQueueWorker<Step>(env, resource),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_ref_(Napi::Persistent(model)),
        callback_name_(std::move(callback_name)),
        await_callback_(await_callback) {
    if (callback.IsFunction()) callback_ref_ = Napi::Persistent(callback.As<Napi::Function>());
    if (abort.IsTypedArray()) {
      abort_ref_ = Napi::Persistent(abort.As<Napi::Object>());
      abort_flag_ = reinterpret_cast<const std::atomic<int32_t>*>(abort.As<Napi::Int32Array>().Data());
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  bool HasCallback() const { return !callback_ref_.IsEmpty(); }
  // Worker thread: hands one step to JS; with await_callback, returns once JS has handled it.
  void SendStep(const typename Napi::AsyncProgressQueueWorker<Step>::ExecutionProgress& progress, const Step& step) {
    if (!await_callback_) {
      progress.Send(&step, 1);
      return;
    }
    std::unique_lock<std::mutex> lock(gate_->mu);
    const int64_t n = ++gate_->sent;
    lock.unlock();
    progress.Send(&step, 1);
    lock.lock();
    // Polled, not only notified: the abort flag and the exit flag are set without the lock.
    while (gate_->done < n && !(abort_flag_ && abort_flag_->load() != 0) && !ShuttingDown().load())
      gate_->cv.wait_for(lock, std::chrono::milliseconds(10));
  }
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
      bool settled = true;
      try {
        Napi::Value r = callback_ref_.Call({StepValue(env, data[i])});
        if (await_callback_ && r.IsPromise()) {
          // The continuations hold the gate, not the worker: after an abort the worker may be
          // gone before the Promise settles.
          auto gate = gate_;
          Napi::Object promise = r.As<Napi::Object>();
          Napi::Function then = promise.Get("then").As<Napi::Function>();
          auto ok = Napi::Function::New(env, [gate](const Napi::CallbackInfo& info) {
            gate->Finish("");
            return info.Env().Undefined();
          });
          auto fail = Napi::Function::New(env, [gate](const Napi::CallbackInfo& info) {
            auto v = info[0];
            std::string msg = v.IsObject() && v.As<Napi::Object>().Get("message").IsString() ? v.As<Napi::Object>().Get("message").As<Napi::String>().Utf8Value()
                                                                                           : v.ToString().Utf8Value();
            gate->Finish(msg.empty() ? "rejected" : msg);
            return info.Env().Undefined();
          });
          then.Call(promise, {ok, fail});
          settled = false;
        }
      } catch (const Napi::Error& e) {
        gate_->SetError(e.Message());
      }
      if (settled && await_callback_) gate_->Finish("");
    }
  }

  void OnOK() override {
    Napi::Env env = this->Env();
    auto callback_error = gate_->Error();
    if (!callback_error.empty()) {
      deferred_.Reject(Napi::Error::New(env, callback_name_ + " callback threw: " + callback_error).Value());
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
  // Steps sent by the worker and steps JS has finished with (callback returned, Promise settled).
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    int64_t sent = 0, done = 0;
    std::string error;
    void Finish(const std::string& err) {
      std::lock_guard<std::mutex> lock(mu);
      if (!err.empty() && error.empty()) error = err;
      ++done;
      cv.notify_all();
    }
    void SetError(const std::string& err) {
      std::lock_guard<std::mutex> lock(mu);
      if (error.empty()) error = err;
    }
    std::string Error() {
      std::lock_guard<std::mutex> lock(mu);
      return error;
    }
  };
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference model_ref_, abort_ref_;
  Napi::FunctionReference callback_ref_;
  const std::atomic<int32_t>* abort_flag_ = nullptr;
  std::string callback_name_;
  bool await_callback_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
};

}  // namespace chatbert::js
