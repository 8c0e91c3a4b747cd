#include "binding/mlm_score.h"

#include <torch/torch.h>

#include <algorithm>

#include "binding/addon.h"
#include "binding/bi_encoder.h"
#include "binding/distilbert_model.h"
#include "binding/util.h"

namespace chatbert::js {

namespace {

// mlmTokenLogProbs(model, { inputIds, attentionMask, batch, seqLen, positions, targets })
//   -> Promise<Float32Array> [positions.length]
// positions index the flattened [batch * seqLen] sequence; targets are vocabulary ids.
Napi::Value MlmTokenLogProbs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Data(env).distilbert_model.Value()))
      throw Napi::TypeError::New(env, "mlmTokenLogProbs(model, request): model must be a DistilBertModel");
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "mlmTokenLogProbs(model, request): request must be an object");
    auto st = Napi::ObjectWrap<DistilBertModelWrap>::Unwrap(info[0].As<Napi::Object>())->state(env);
    const auto& cfg = st->model->config;
    auto r = info[1].As<Napi::Object>();
    auto h = std::make_shared<HostTokenBatch>(ParseTokenBatch(r, cfg, "request"));
    auto positions = Int32ArrayArg(r.Get("positions"), "request.positions");
    auto targets = Int32ArrayArg(r.Get("targets"), "request.targets");
    if (positions.empty()) throw Napi::RangeError::New(env, "request.positions is empty");
    if (positions.size() != targets.size()) throw Napi::RangeError::New(env, "request.targets must have one entry per position");
    for (size_t i = 0; i < positions.size(); ++i) {
      if (positions[i] < 0 || positions[i] >= h->B * h->T)
        throw Napi::RangeError::New(env, "request.positions[" + std::to_string(i) + "] = " + std::to_string(positions[i]) + " is outside [0, batch*seqLen)");
      if (targets[i] < 0 || targets[i] >= cfg.vocab_size)
        throw Napi::RangeError::New(env, "request.targets[" + std::to_string(i) + "] = " + std::to_string(targets[i]) + " is outside the vocabulary");
    }
    auto out = std::make_shared<torch::Tensor>();
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [st, h, positions = std::move(positions), targets = std::move(targets), out] {
          std::lock_guard<std::mutex> lock(st->mu);
          torch::InferenceMode guard;
          const auto dev = st->device;
          auto [ids, mask] = h->to(dev);
          const int64_t P = static_cast<int64_t>(positions.size());
          // A position may be asked for several targets (candidate replies scored against the same
          // masked slot): the vocabulary projection, most of the cost, runs once per distinct position.
          std::vector<int32_t> unique(positions);
          std::sort(unique.begin(), unique.end());
          unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
          std::vector<int64_t> row(P);
          for (int64_t i = 0; i < P; ++i) row[i] = std::lower_bound(unique.begin(), unique.end(), positions[i]) - unique.begin();
          const int64_t U = static_cast<int64_t>(unique.size());
          auto pos = torch::from_blob(unique.data(), {U}, torch::kInt32).to(dev, torch::kInt64);
          auto rows = torch::from_blob(row.data(), {P}, torch::kInt64).to(dev);
          auto tgt = torch::from_blob(const_cast<int32_t*>(targets.data()), {P}, torch::kInt32).to(dev, torch::kInt64);
          auto states = st->model->hidden_states(ids, mask);
          auto src = st->model->copy_source(states, ids, mask);
          auto hidden = states.reshape({h->B * h->T, -1}).index_select(0, pos);
          // log-softmax in float32 even for bf16 weights: these are summed over many tokens.
          auto logp = torch::log_softmax(st->model->mlm_logits(hidden, &src, pos).to(torch::kFloat32), -1);  // [U, V]
          *out = logp.index({rows, tgt}).to(torch::kCPU).contiguous();
        },
        [out](Napi::Env env) { return TensorToTypedArray(env, *out); });
  });
}

// sequenceScores(model, { inputIds, attentionMask, batch, seqLen }) -> Promise<Float32Array> [batch]:
// the score head over each row's [CLS] state (ChatBERT-RA's cross-encoder).
Napi::Value SequenceScores(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Data(env).distilbert_model.Value()))
      throw Napi::TypeError::New(env, "sequenceScores(model, batch): model must be a DistilBertModel");
    auto st = Napi::ObjectWrap<DistilBertModelWrap>::Unwrap(info[0].As<Napi::Object>())->state(env);
    if (!st->model->pre_classifier) throw Napi::RangeError::New(env, "sequenceScores: this model has no score head (not a ChatBERT-RA cross-encoder)");
    auto h = std::make_shared<HostTokenBatch>(ParseTokenBatch(info[1], st->model->config, "batch"));
    auto out = std::make_shared<torch::Tensor>();
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [st, h, out] {
          std::lock_guard<std::mutex> lock(st->mu);
          torch::InferenceMode guard;
          auto [ids, mask] = h->to(st->device);
          *out = st->model->scores(st->model->hidden_states(ids, mask)).to(torch::kFloat32).to(torch::kCPU).contiguous();
        },
        [out](Napi::Env env) { return TensorToTypedArray(env, *out); });
  });
}

}  // namespace

void InitMlmScore(Napi::Env env, Napi::Object exports) {
  exports.Set("mlmTokenLogProbs", Napi::Function::New(env, MlmTokenLogProbs, "mlmTokenLogProbs"));
  exports.Set("sequenceScores", Napi::Function::New(env, SequenceScores, "sequenceScores"));
}

}  // namespace chatbert::js
