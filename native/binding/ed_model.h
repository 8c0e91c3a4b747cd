// JS class EdModel: a ChatBERT-ED encoder-decoder (DistilBERT encoder + GPT-style decoder) on a
// device. Created and loaded off the JS thread (EdModel.create), forward passes return Promises,
// dispose() frees it at once. EdTrainer (ed_trainer.h) and edGenerate (ed_generate.h) take it.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "models/ed_decoder.h"
#include "train/ed_objective.h"

namespace chatbert::js {

// Shared between the JS wrapper and in-flight workers (see DistilBertState).
struct EdState {
  EncoderDecoder model{nullptr};
  torch::Device device{torch::kCPU};
  std::mutex mu;  // one operation at a time on a model
  LoadReport report;
  int64_t bytes = 0;
};

class EdModelWrap : public Napi::ObjectWrap<EdModelWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit EdModelWrap(const Napi::CallbackInfo& info);
  ~EdModelWrap() override;
  std::shared_ptr<EdState> state(Napi::Env env) const;  // throws when disposed
  // The state of `v` when it is an EdModel (checked by a type tag, not by trusting the object),
  // else a TypeError naming `what`.
  static std::shared_ptr<EdState> StateOf(const Napi::Value& v, const std::string& what);
  static bool Is(const Napi::Value& v);  // an EdModel, by its type tag

 private:
  static Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetNumParameters(const Napi::CallbackInfo& info);
  Napi::Value GetConfig(const Napi::CallbackInfo& info);
  Napi::Value GetLoadReport(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  std::shared_ptr<EdState> state_;
  int64_t external_bytes_ = 0;
};

// The encoder input of a request, copied on the JS thread and checked against the model:
// inputIds [batch * seqLen] in the vocabulary, attentionMask with no empty row.
struct EdHostInput {
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
};
EdHostInput ParseEncoderInput(const Napi::Object& o, const EncoderDecoderImpl& model, const std::string& name, int64_t max_batch);

// A teacher-forcing batch as it arrives from JS ({ ...encoder input, decoderInputIds, labels,
// decoderLength }, labels -100 where there is no target), copied on the JS thread; tensors are
// made in the worker.
struct EdHostBatch {
  EdHostInput enc;
  int64_t S = 0;
  std::vector<int32_t> decoder_ids, positions, labels;
};
EdHostBatch ParseEdBatch(const Napi::Value& v, const EncoderDecoderImpl& model, const std::string& name);
EdBatch EdBatchToDevice(const EdHostBatch& h, torch::Device dev);

// Token ids [n] checked to lie in [0, vocab_size).
void CheckVocab(Napi::Env env, const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& name);

}  // namespace chatbert::js
