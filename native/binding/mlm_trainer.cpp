#include "binding/mlm_trainer.h"

#include <algorithm>
#include <cmath>

#include "binding/adamw_options.h"
#include "binding/bi_encoder.h"
#include "binding/addon.h"
#include "binding/optimizer_state.h"
#include "binding/process_group.h"
#include "binding/util.h"
#include "io/checkpoint.h"
#include "torch_compat.h"
#include "train/contrastive.h"
#include "train/mlm_objective.h"

namespace chatbert::js {

namespace {

// A micro-batch as it arrives from JS, copied on the JS thread; tensors are made in the worker.
struct HostBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids, positions, labels, length_targets;
  // Optional bi-encoder pairs (imr.bi_encoder): contexts and their replies, encoded apart.
  bool has_pairs = false;
  HostPairBatch pairs;
  std::vector<uint8_t> mask;
  std::vector<float> weights;
};

HostBatch ParseBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, name + " must be an object");
  auto o = v.As<Napi::Object>();
  HostBatch h;
  h.B = IntegerArg(o.Get("batch"), name + ".batch", 1, 1 << 20);
  h.T = IntegerArg(o.Get("seqLen"), name + ".seqLen", 1, cfg.max_position_embeddings);
  h.ids = Int32ArrayArg(o.Get("inputIds"), name + ".inputIds");
  if (static_cast<int64_t>(h.ids.size()) != h.B * h.T) throw Napi::RangeError::New(env, name + ".inputIds has " + std::to_string(h.ids.size()) + " elements, expected batch*seqLen = " + std::to_string(h.B * h.T));
  for (size_t i = 0; i < h.ids.size(); ++i)
    if (h.ids[i] < 0 || h.ids[i] >= cfg.vocab_size) throw Napi::RangeError::New(env, name + ".inputIds[" + std::to_string(i) + "] = " + std::to_string(h.ids[i]) + " is outside the vocabulary");
  h.mask = MaskArg(o.Get("attentionMask"), name + ".attentionMask", h.ids.size());
  h.positions = Int32ArrayArg(o.Get("positions"), name + ".positions");
  h.labels = Int32ArrayArg(o.Get("labels"), name + ".labels");
  if (h.labels.size() != h.positions.size()) throw Napi::RangeError::New(env, name + ".labels must have one entry per position");
  for (size_t i = 0; i < h.positions.size(); ++i) {
    if (h.positions[i] < 0 || h.positions[i] >= h.B * h.T) throw Napi::RangeError::New(env, name + ".positions[" + std::to_string(i) + "] is outside [0, batch*seqLen)");
    if (h.labels[i] < 0 || h.labels[i] >= cfg.vocab_size) throw Napi::RangeError::New(env, name + ".labels[" + std::to_string(i) + "] = " + std::to_string(h.labels[i]) + " is outside the vocabulary");
  }
  auto w = o.Get("weights");
  if (!w.IsUndefined()) {
    if (!w.IsTypedArray() || w.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, name + ".weights must be a Float32Array");
    auto a = w.As<Napi::Float32Array>();
    if (a.ElementLength() != h.positions.size()) throw Napi::RangeError::New(env, name + ".weights must have one entry per position");
    h.weights.assign(a.Data(), a.Data() + a.ElementLength());
    for (float x : h.weights)
      if (!std::isfinite(x) || x < 0) throw Napi::RangeError::New(env, name + ".weights must be finite and >= 0");
  }
  auto lt = o.Get("lengthTargets");
  if (!lt.IsUndefined()) {
    h.length_targets = Int32ArrayArg(lt, name + ".lengthTargets");
    if (static_cast<int64_t>(h.length_targets.size()) != h.B) throw Napi::RangeError::New(env, name + ".lengthTargets must have one entry per row");
    if (cfg.length_classes == 0) throw Napi::RangeError::New(env, name + ".lengthTargets given but the model has no length head (length_classes = 0)");
    for (int32_t t : h.length_targets)
      if (t < -1 || t >= cfg.length_classes) throw Napi::RangeError::New(env, name + ".lengthTargets holds " + std::to_string(t) + ", outside [-1, " + std::to_string(cfg.length_classes) + ")");
  }
  auto pairs = o.Get("pairs");
  if (!pairs.IsUndefined()) {
    // One row is enough: the in-batch negatives are gathered over data-parallel ranks.
    h.pairs = ParsePairBatch(pairs, cfg, name + ".pairs", 1, "replies");
    h.has_pairs = true;
  }
  return h;
}

MlmBatch ToDevice(const HostBatch& h, torch::Device dev) {
  MlmBatch b;
  auto i32 = [&](const std::vector<int32_t>& v, std::vector<int64_t> shape) {
    return torch::from_blob(const_cast<int32_t*>(v.data()), shape, torch::kInt32).to(dev, torch::kInt64);
  };
  b.input_ids = i32(h.ids, {h.B, h.T});
  // Nothing padded: no mask, which lets the attention use its fastest (flash) kernel.
  if (!std::all_of(h.mask.begin(), h.mask.end(), [](uint8_t m) { return m != 0; }))
    b.attention_mask = torch::from_blob(const_cast<uint8_t*>(h.mask.data()), {h.B, h.T}, torch::kUInt8).to(dev);
  b.positions = i32(h.positions, {static_cast<int64_t>(h.positions.size())});
  b.labels = i32(h.labels, {static_cast<int64_t>(h.labels.size())});
  if (!h.weights.empty()) b.weights = torch::from_blob(const_cast<float*>(h.weights.data()), {static_cast<int64_t>(h.weights.size())}, torch::kFloat32).to(dev);
  if (!h.length_targets.empty()) b.length_targets = i32(h.length_targets, {h.B});
  return b;
}

std::vector<HostBatch> ParseBatches(const Napi::Value& v, const DistilBertConfig& cfg) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "microBatches must be an array of batches");
  auto a = v.As<Napi::Array>();
  if (a.Length() == 0) throw Napi::RangeError::New(v.Env(), "microBatches is empty");
  std::vector<HostBatch> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ParseBatch(a.Get(i), cfg, "microBatches[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

Napi::Function MlmTrainerWrap::Init(Napi::Env env) {
  return DefineClass(env, "MlmTrainer",
                     {InstanceMethod<&MlmTrainerWrap::Step>("step"), InstanceMethod<&MlmTrainerWrap::Evaluate>("evaluate"),
                      InstanceMethod<&MlmTrainerWrap::SaveState>("saveState"), InstanceMethod<&MlmTrainerWrap::LoadState>("loadState"),
                      InstanceMethod<&MlmTrainerWrap::JoinGroup>("joinGroup"), InstanceAccessor<&MlmTrainerWrap::GetSteps>("steps")});
}

// new MlmTrainer(model: DistilBertModel, options?: { weightDecay, beta1, beta2, eps, clipNorm, bf16, lengthLossWeight, pairLossWeight, pairPooling })
MlmTrainerWrap::MlmTrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MlmTrainerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Data(env).distilbert_model.Value()))
    throw Napi::TypeError::New(env, "new MlmTrainer(model, options): model must be a DistilBertModel");
  auto* wrap = Napi::ObjectWrap<DistilBertModelWrap>::Unwrap(info[0].As<Napi::Object>());
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  impl_ = std::make_shared<Impl>();
  impl_->model = wrap->state(env);
  const auto opt = ParseOptimizerOptions(o);
  impl_->length_loss_weight = NumberOption(o, "lengthLossWeight", 0.1, 0, 1e3);
  impl_->pair_loss_weight = NumberOption(o, "pairLossWeight", 1.0, 0, 1e3);
  try {
    impl_->pair_pooling = parse_pooling(StringOption(o, "pairPooling", "cls"));
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("options.pairPooling: ") + e.what());
  }
  impl_->bf16 = BoolOption(o, "bf16", false) && impl_->model->device.is_cuda();
  const bool split = impl_->model->model->config.pool_stop_gradient && impl_->model->model->pool_tower;
  std::vector<std::pair<std::string, torch::Tensor>> params, tower;
  for (const auto& p : impl_->model->model->named_parameters(true))
    (split && p.key().rfind("pool_tower.", 0) == 0 ? tower : params).emplace_back(p.key(), p.value());
  impl_->optimizer = std::make_unique<AdamW>(params, opt.adamw);
  auto step_options = opt.step;
  if (split) {
    impl_->tower_optimizer = std::make_unique<AdamW>(tower, opt.adamw);
    step_options.clip_each_optimizer = true;
  }
  impl_->step = std::make_unique<TrainStep>(impl_->optimizers(), step_options);
  model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
}

// step(microBatches: MlmBatch[], { lr, towerLr?, seed }) -> Promise<{ loss, mlmLoss, lengthLoss, lengthAccuracy,
//   pairLoss, pairAccuracy, gradNorm, maskedTokens, tokens, finite }>. With pairs (the bi-encoder
// objective, pooled as pairPooling says, in-batch negatives gathered over data-parallel ranks) in a micro-batch,
// every micro-batch of every rank must have them. One optimizer step over all micro-batches
// (gradient accumulation); the loss is normalised by the total number of masked positions.
// A non-finite loss or gradient skips the update and reports finite = false.
Napi::Value MlmTrainerWrap::Step(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
  Napi::Env env = info.Env();
  auto impl = impl_;
  if (!impl->model || !impl->model->model) throw Napi::Error::New(env, "the trainer's model was disposed");
  auto batches = ParseBatches(info.Length() ? info[0] : env.Undefined(), impl->model->model->config);
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  const double lr = NumberArg(o.Get("lr"), "lr", 0, 10);
  const double tower_lr = NumberOption(o, "towerLr", lr, 0, 10);
  const int64_t seed = IntegerOption(o, "seed", -1, -1, int64_t(1) << 53);
  struct Result {
    double loss = 0, mlm = 0, len = 0, len_acc = 0, pair = 0, pair_acc = 0, grad_norm = 0;
    int64_t masked = 0, tokens = 0;
    bool finite = true;
  };
  auto r = std::make_shared<Result>();
  return PromiseWorker::Queue(
      env, Value(),
      [impl, batches = std::move(batches), lr, tower_lr, seed, r] {
        auto st = impl->model;
        std::lock_guard<std::mutex> lock(st->mu);
        auto& model = st->model;
        seed_step(seed, *impl->step);
        model->train();
        int64_t masked = 0, len_rows = 0, pairs = 0;
        for (const auto& h : batches) {
          masked += static_cast<int64_t>(h.positions.size());
          for (int32_t t : h.length_targets) len_rows += t >= 0;
          for (uint8_t m : h.mask) r->tokens += m;
          if (h.has_pairs) pairs += h.pairs.context.B;
        }
        // The whole step's counts (over every data-parallel rank): each rank's loss carries them.
        const auto global = impl->step->global_counts({double(masked), double(len_rows), double(r->tokens), double(pairs)});
        masked = static_cast<int64_t>(global[0]);
        len_rows = static_cast<int64_t>(global[1]);
        r->tokens = static_cast<int64_t>(global[2]);
        pairs = static_cast<int64_t>(global[3]);
        r->masked = masked;
        const double mlm_norm = std::max<int64_t>(masked, 1), len_norm = std::max<int64_t>(len_rows, 1), pair_norm = std::max<int64_t>(pairs, 1);
        const double w = impl->length_loss_weight, ws = impl->pair_loss_weight;
        StepResult s;
        {
          compat::CudaAutocastScope autocast(impl->bf16);
          s = impl->step->run(
              batches.size(),
              [&](size_t i) {
                auto l = mlm_loss(model, ToDevice(batches[i], st->device));
                auto loss = l.weighted_sum / mlm_norm + w * l.length_sum / len_norm;
                torch::Tensor pair_sum = torch::zeros({}, loss.options()), pair_correct = torch::zeros({}, loss.options().dtype(torch::kInt64));
                if (batches[i].has_pairs) {
                  auto c = in_batch_loss(model, ToDevice(batches[i].pairs, st->device), impl->pair_pooling, impl->step->reducer());
                  // Data-parallel: the gradient from the whole group's score matrix, the sums from this rank's rows.
                  loss = loss + ws * (c.grad_loss.defined() ? c.grad_loss : c.loss_sum) / pair_norm;
                  pair_sum = c.loss_sum.detach();
                  pair_correct = c.correct;
                }
                return MicroBatchLoss{loss, {l.weighted_sum, l.ce_sum, l.length_sum, l.length_correct, pair_sum, pair_correct}};
              },
              impl->lrs(lr, tower_lr));
        }
        const double weighted = s.stats[0], ce = s.stats[1], len = s.stats[2], correct = s.stats[3], pair = s.stats[4], pair_correct = s.stats[5];
        r->loss = weighted / mlm_norm + w * len / len_norm + ws * pair / pair_norm;
        r->pair = pairs ? pair / pair_norm : 0;
        r->pair_acc = pairs ? pair_correct / pairs : 0;
        r->mlm = ce / mlm_norm;
        r->len = len_rows ? len / len_norm : 0;
        r->len_acc = len_rows ? correct / len_rows : 0;
        r->grad_norm = s.grad_norm;
        r->finite = s.finite;
        model->eval();
      },
      [r](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("loss", r->loss);
        o.Set("mlmLoss", r->mlm);
        o.Set("lengthLoss", r->len);
        o.Set("lengthAccuracy", r->len_acc);
        o.Set("pairLoss", r->pair);
        o.Set("pairAccuracy", r->pair_acc);
        o.Set("gradNorm", r->grad_norm);
        o.Set("maskedTokens", static_cast<double>(r->masked));
        o.Set("tokens", static_cast<double>(r->tokens));
        o.Set("finite", r->finite);
        return o;
      });
  });
}

// evaluate(batch) -> Promise<{ ceSum, weightedSum, maskedTokens, lengthSum, lengthCorrect, lengthRows,
//   pairSum, pairCorrect, pairRows }>
Napi::Value MlmTrainerWrap::Evaluate(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
  Napi::Env env = info.Env();
  auto impl = impl_;
  auto h = std::make_shared<HostBatch>(ParseBatch(info.Length() ? info[0] : env.Undefined(), impl->model->model->config, "batch"));
  struct Result {
    double ce = 0, weighted = 0, len = 0, pair = 0;
    int64_t correct = 0, rows = 0, masked = 0, pair_correct = 0, pair_rows = 0;
  };
  auto r = std::make_shared<Result>();
  return PromiseWorker::Queue(
      env, Value(),
      [impl, h, r] {
        auto st = impl->model;
        std::lock_guard<std::mutex> lock(st->mu);
        torch::NoGradGuard no_grad;
        st->model->eval();
        compat::CudaAutocastScope autocast(impl->bf16);
        auto l = mlm_loss(st->model, ToDevice(*h, st->device));
        r->ce = l.ce_sum.item<double>();
        r->weighted = l.weighted_sum.item<double>();
        r->len = l.length_sum.item<double>();
        r->correct = l.length_correct.item<int64_t>();
        r->rows = l.length_rows;
        if (h->has_pairs) {
          auto c = in_batch_loss(st->model, ToDevice(h->pairs, st->device), impl->pair_pooling);
          r->pair = c.loss_sum.item<double>();
          r->pair_correct = c.correct.item<int64_t>();
          r->pair_rows = c.rows;
        }
        r->masked = static_cast<int64_t>(h->positions.size());
      },
      [r](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("ceSum", r->ce);
        o.Set("weightedSum", r->weighted);
        o.Set("maskedTokens", static_cast<double>(r->masked));
        o.Set("lengthSum", r->len);
        o.Set("lengthCorrect", static_cast<double>(r->correct));
        o.Set("lengthRows", static_cast<double>(r->rows));
        o.Set("pairSum", r->pair);
        o.Set("pairCorrect", static_cast<double>(r->pair_correct));
        o.Set("pairRows", static_cast<double>(r->pair_rows));
        return o;
      });
  });
}

// saveState(path) / loadState(path): binding/optimizer_state.h.
Napi::Value MlmTrainerWrap::SaveState(const Napi::CallbackInfo& info) { return SaveOptimizerStateAsync(info, Value(), impl_, "chatbert AdamW state"); }

Napi::Value MlmTrainerWrap::LoadState(const Napi::CallbackInfo& info) { return LoadOptimizerStateAsync(info, Value(), impl_); }

Napi::Value MlmTrainerWrap::JoinGroup(const Napi::CallbackInfo& info) { return JoinGroupAsync(info, Value(), impl_); }

Napi::Value MlmTrainerWrap::GetSteps(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(impl_->optimizer->steps())); }

}  // namespace chatbert::js
