// JS class DistilBertModel: a DistilBertForMaskedLM on a device. Created and loaded off the JS
// thread (DistilBertModel.create), forward passes return Promises, dispose() frees it at once.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>

#include "io/checkpoint.h"
#include "models/distilbert.h"

namespace chatbert {
class ImrGraphCache;
}

namespace chatbert::js {

// Native state shared between the JS wrapper and in-flight workers: a worker holds its own
// shared_ptr, so dispose() during a forward pass frees the model when that pass ends.
struct DistilBertState {
  DistilBertForMaskedLM model{nullptr};
  torch::Device device{torch::kCPU};
  std::mutex mu;  // one operation at a time on a model
  std::shared_ptr<ImrGraphCache> imr_graphs;  // CUDA: captured IMR decoding loops (made on first use)
  LoadReport report;
  int64_t bytes = 0;
};

class DistilBertModelWrap : public Napi::ObjectWrap<DistilBertModelWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DistilBertModelWrap(const Napi::CallbackInfo& info);
  ~DistilBertModelWrap() override;
  std::shared_ptr<DistilBertState> state(Napi::Env env) const;  // throws when disposed

 private:
  static Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetNumParameters(const Napi::CallbackInfo& info);
  Napi::Value GetConfig(const Napi::CallbackInfo& info);
  Napi::Value GetLoadReport(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  std::shared_ptr<DistilBertState> state_;
  int64_t external_bytes_ = 0;
};

DistilBertConfig ParseDistilBertConfig(const Napi::Object& o);

}  // namespace chatbert::js
