#include "binding/ed_trainer.h"

#include <algorithm>
#include <cmath>

#include "binding/adamw_options.h"
#include "binding/optimizer_state.h"
#include "binding/process_group.h"
#include "binding/util.h"
#include "io/checkpoint.h"
#include "torch_compat.h"
#include "train/ed_objective.h"

namespace chatbert::js {

namespace {

std::vector<EdHostBatch> ParseBatches(const Napi::Value& v, const EncoderDecoderImpl& model) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "microBatches must be an array of batches");
  auto a = v.As<Napi::Array>();
  if (a.Length() == 0) throw Napi::RangeError::New(v.Env(), "microBatches is empty");
  std::vector<EdHostBatch> out;
  size_t targets = 0;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    out.push_back(ParseEdBatch(a.Get(i), model, "microBatches[" + std::to_string(i) + "]"));
    targets += out.back().positions.size();
  }
  if (targets == 0) throw Napi::RangeError::New(v.Env(), "microBatches hold no target token (every label is -100)");
  return out;
}

int64_t InputTokens(const EdHostBatch& h) {
  int64_t n = static_cast<int64_t>(h.positions.size());
  for (uint8_t m : h.enc.mask) n += m;
  return n;
}

// Training mode for the parts that train: a frozen encoder stays in eval mode (no dropout), so it
// gives the decoder the same features it will see at generation time.
void SetTrain(EncoderDecoder& m, bool freeze_encoder) {
  m->train();
  if (freeze_encoder) m->distilbert->eval();
}

// As EdBatchToDevice, without the mask when nothing is padded (the encoder's attention then takes
// its fastest kernel; the decoder's cross-attention treats a missing mask as all ones).
EdBatch ToDevice(const EdHostBatch& h, torch::Device dev) {
  auto b = EdBatchToDevice(h, dev);
  if (std::all_of(h.enc.mask.begin(), h.enc.mask.end(), [](uint8_t m) { return m != 0; })) b.attention_mask = torch::Tensor();
  return b;
}

}  // namespace

Napi::Function EdTrainerWrap::Init(Napi::Env env) {
  return DefineClass(env, "EdTrainer",
                     {InstanceMethod<&EdTrainerWrap::Step>("step"), InstanceMethod<&EdTrainerWrap::Evaluate>("evaluate"),
                      InstanceMethod<&EdTrainerWrap::SaveState>("saveState"), InstanceMethod<&EdTrainerWrap::LoadState>("loadState"),
                      InstanceMethod<&EdTrainerWrap::JoinGroup>("joinGroup"), InstanceAccessor<&EdTrainerWrap::GetSteps>("steps")});
}

// new EdTrainer(model: EdModel, options?: { weightDecay, beta1, beta2, eps, clipNorm, bf16,
//   labelSmoothing, freezeEncoder })
EdTrainerWrap::EdTrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EdTrainerWrap>(info) {
  Napi::Env env = info.Env();
  auto st = EdModelWrap::StateOf(info.Length() ? info[0] : env.Undefined(), "new EdTrainer(model, options): model");
  if (info.Length() > 1 && !info[1].IsObject() && !info[1].IsUndefined()) throw Napi::TypeError::New(env, "new EdTrainer(model, options): options must be an object");
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  impl_ = std::make_shared<Impl>();
  impl_->model = st;
  const auto opt = ParseOptimizerOptions(o);
  impl_->label_smoothing = NumberOption(o, "labelSmoothing", 0.0, 0, 0.999);
  impl_->freeze_encoder = BoolOption(o, "freezeEncoder", false);
  impl_->bf16 = BoolOption(o, "bf16", false) && st->device.is_cuda();
  std::lock_guard<std::mutex> lock(st->mu);
  std::vector<std::pair<std::string, torch::Tensor>> enc, dec;
  for (const auto& p : st->model->named_parameters(true)) {
    if (p.key().rfind("distilbert.", 0) == 0) {
      // A frozen encoder gets no gradients, so AdamW (which skips such parameters) keeps no state for it.
      if (impl_->freeze_encoder) p.value().set_requires_grad(false);
      enc.emplace_back(p.key(), p.value());
    } else {
      dec.emplace_back(p.key(), p.value());
    }
  }
  impl_->encoder_optimizer = std::make_unique<AdamW>(enc, opt.adamw);
  impl_->decoder_optimizer = std::make_unique<AdamW>(dec, opt.adamw);
  impl_->step = std::make_unique<TrainStep>(impl_->optimizers(), opt.step);
  model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
}

// step(microBatches, { lr, encoderLr?, seed? }) -> Promise<{ loss, ce, gradNorm, targets, correct,
//   tokens, finite }>. One optimizer step over all micro-batches (gradient accumulation); the loss
// is normalised by the total number of target tokens. encoderLr defaults to lr. A non-finite loss
// or gradient skips the update and reports finite = false.
Napi::Value EdTrainerWrap::Step(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto impl = impl_;
    if (!impl->model || !impl->model->model) throw Napi::Error::New(env, "the trainer's model was disposed");
    auto batches = ParseBatches(info.Length() ? info[0] : env.Undefined(), *impl->model->model);
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "step(microBatches, options): options { lr } is required");
    auto o = info[1].As<Napi::Object>();
    const double lr = NumberArg(o.Get("lr"), "lr", 0, 10);
    const double encoder_lr = NumberOption(o, "encoderLr", lr, 0, 10);
    const int64_t seed = IntegerOption(o, "seed", -1, -1, int64_t(1) << 53);
    struct Result {
      double loss = 0, ce = 0, grad_norm = 0;
      int64_t targets = 0, correct = 0, tokens = 0;
      bool finite = true;
    };
    auto r = std::make_shared<Result>();
    return PromiseWorker::Queue(
        env, Value(),
        [impl, batches = std::move(batches), lr, encoder_lr, seed, r] {
          auto st = impl->model;
          std::lock_guard<std::mutex> lock(st->mu);
          auto& model = st->model;
          seed_step(seed, *impl->step);
          SetTrain(model, impl->freeze_encoder);
          for (const auto& h : batches) {
            r->targets += static_cast<int64_t>(h.positions.size());
            r->tokens += InputTokens(h);
          }
          // The whole step's counts, over every data-parallel rank.
          const auto global = impl->step->global_counts({double(r->targets), double(r->tokens)});
          r->targets = static_cast<int64_t>(global[0]);
          r->tokens = static_cast<int64_t>(global[1]);
          const double norm = static_cast<double>(r->targets);
          StepResult s;
          {
            compat::CudaAutocastScope autocast(impl->bf16);
            s = impl->step->run(
                batches.size(),
                [&](size_t i) {
                  auto l = ed_loss(model, ToDevice(batches[i], st->device), impl->label_smoothing, impl->freeze_encoder);
                  return MicroBatchLoss{l.loss_sum / norm, {l.loss_sum, l.ce_sum, l.correct}};
                },
                {encoder_lr, lr});  // the order of Impl::optimizers()
          }
          r->loss = s.stats[0] / norm;
          r->ce = s.stats[1] / norm;
          r->correct = static_cast<int64_t>(s.stats[2]);
          r->grad_norm = s.grad_norm;
          r->finite = s.finite;
          model->eval();
        },
        [r](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loss", r->loss);
          o.Set("ce", r->ce);
          o.Set("gradNorm", r->grad_norm);
          o.Set("targets", static_cast<double>(r->targets));
          o.Set("correct", static_cast<double>(r->correct));
          o.Set("tokens", static_cast<double>(r->tokens));
          o.Set("finite", r->finite);
          return o;
        });
  });
}

// evaluate(batch) -> Promise<{ ceSum, lossSum, targets, correct }>: no dropout, no update.
// exp(sum ceSum / sum targets) over a validation set is its token-level perplexity.
Napi::Value EdTrainerWrap::Evaluate(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto impl = impl_;
    if (!impl->model || !impl->model->model) throw Napi::Error::New(env, "the trainer's model was disposed");
    auto h = std::make_shared<EdHostBatch>(ParseEdBatch(info.Length() ? info[0] : env.Undefined(), *impl->model->model, "batch"));
    struct Result {
      double ce = 0, loss = 0;
      int64_t targets = 0, correct = 0;
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
          r->targets = static_cast<int64_t>(h->positions.size());
          if (r->targets == 0) return;
          auto l = ed_loss(st->model, ToDevice(*h, st->device), impl->label_smoothing, true);
          r->ce = l.ce_sum.item<double>();
          r->loss = l.loss_sum.item<double>();
          r->correct = l.correct.item<int64_t>();
        },
        [r](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("ceSum", r->ce);
          o.Set("lossSum", r->loss);
          o.Set("targets", static_cast<double>(r->targets));
          o.Set("correct", static_cast<double>(r->correct));
          return o;
        });
  });
}

// saveState(path) / loadState(path): binding/optimizer_state.h.
Napi::Value EdTrainerWrap::SaveState(const Napi::CallbackInfo& info) { return SaveOptimizerStateAsync(info, Value(), impl_, "chatbert-ed AdamW state"); }

Napi::Value EdTrainerWrap::LoadState(const Napi::CallbackInfo& info) { return LoadOptimizerStateAsync(info, Value(), impl_); }

Napi::Value EdTrainerWrap::JoinGroup(const Napi::CallbackInfo& info) { return JoinGroupAsync(info, Value(), impl_); }

Napi::Value EdTrainerWrap::GetSteps(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(impl_->decoder_optimizer->steps())); }

}  // namespace chatbert::js
