#include "binding/ed_trainer.h"

#include <algorithm>
#include <cmath>

#include "binding/adamw_options.h"
#include "binding/bi_encoder.h"
#include "binding/optimizer_state.h"
#include "binding/process_group.h"
#include "binding/util.h"
#include "io/checkpoint.h"
#include "torch_compat.h"
#include "train/contrastive.h"
#include "train/ed_objective.h"

namespace chatbert::js {

namespace {

// A micro-batch: the teacher-forcing batch, and optional bi-encoder pairs (ed.bi_encoder).
struct TrainHostBatch {
  EdHostBatch tokens;
  bool has_pairs = false;
  HostPairBatch pairs;
  // The pairs' contexts are the batch's encoder inputs (every row, as pairBatch makes them with
  // share 1): their vectors are pooled from the states the decoder's loss computed, not encoded again.
  bool pair_contexts_are_inputs = false;
};

TrainHostBatch ParseTrainBatch(const Napi::Value& v, const EncoderDecoderImpl& model, const std::string& name) {
  TrainHostBatch h{ParseEdBatch(v, model, name)};
  auto pairs = v.As<Napi::Object>().Get("pairs");
  if (!pairs.IsUndefined()) {
    // One row is enough: the in-batch negatives are gathered over data-parallel ranks.
    h.pairs = ParsePairBatch(pairs, model.encoder_config, name + ".pairs", 1, "replies");
    h.has_pairs = true;
    h.pair_contexts_are_inputs = h.pairs.context.B == h.tokens.enc.B && h.pairs.context.T == h.tokens.enc.T && h.pairs.context.ids == h.tokens.enc.ids &&
                                 h.pairs.context.mask == h.tokens.enc.mask;
  }
  return h;
}

std::vector<TrainHostBatch> ParseBatches(const Napi::Value& v, const EncoderDecoderImpl& model) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "microBatches must be an array of batches");
  auto a = v.As<Napi::Array>();
  if (a.Length() == 0) throw Napi::RangeError::New(v.Env(), "microBatches is empty");
  std::vector<TrainHostBatch> out;
  size_t targets = 0;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    out.push_back(ParseTrainBatch(a.Get(i), model, "microBatches[" + std::to_string(i) + "]"));
    targets += out.back().tokens.positions.size();
  }
  if (targets == 0) throw Napi::RangeError::New(v.Env(), "microBatches hold no target token (every label is -100)");
  return out;
}

// The bi-encoder loss of a batch's pairs: mean-pooled encoder states, in-batch negatives. `l`: the
// decoder's loss on the same batch, whose encoder states serve the contexts where they are the same.
ContrastiveLoss PairLoss(EncoderDecoder& model, const TrainHostBatch& h, const EdBatch& batch, const EdLoss& l, torch::Device dev, GradReducer* group) {
  auto b = ToDevice(h.pairs, dev);
  auto ctx = h.pair_contexts_are_inputs ? pool_hidden(l.encoder_hidden, batch.attention_mask, Pooling::kMean)
                                        : model->encode_pooled(b.context_ids, b.context_mask, Pooling::kMean);
  return in_batch_loss(ctx, model->encode_pooled(b.candidate_ids, b.candidate_mask, Pooling::kMean), b.keys, group);
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
//   labelSmoothing, freezeEncoder, pairLossWeight })
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
  impl_->pair_loss_weight = NumberOption(o, "pairLossWeight", 1.0, 0, 1e3);
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
//   tokens, pairLoss, pairAccuracy, finite }>. One optimizer step over all micro-batches (gradient
// accumulation); the loss is normalised by the total number of target tokens, and the bi-encoder
// pairs' (when micro-batches carry pairs: then every micro-batch of every rank must) by the number
// of pairs. encoderLr defaults to lr. A non-finite loss or gradient skips the update and reports
// finite = false.
Napi::Value EdTrainerWrap::Step(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto impl = impl_;
    if (!impl->model || !impl->model->model) throw Napi::Error::New(env, "the trainer's model was disposed");
    auto batches = ParseBatches(info.Length() ? info[0] : env.Undefined(), *impl->model->model);
    if (impl->freeze_encoder && std::any_of(batches.begin(), batches.end(), [](const TrainHostBatch& b) { return b.has_pairs; }))
      throw Napi::RangeError::New(env, "microBatches carry bi-encoder pairs, but the encoder they train is frozen (freezeEncoder)");
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "step(microBatches, options): options { lr } is required");
    auto o = info[1].As<Napi::Object>();
    const double lr = NumberArg(o.Get("lr"), "lr", 0, 10);
    const double encoder_lr = NumberOption(o, "encoderLr", lr, 0, 10);
    const int64_t seed = IntegerOption(o, "seed", -1, -1, int64_t(1) << 53);
    struct Result {
      double loss = 0, ce = 0, grad_norm = 0, pair = 0, pair_acc = 0;
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
          int64_t pairs = 0;
          for (const auto& h : batches) {
            r->targets += static_cast<int64_t>(h.tokens.positions.size());
            r->tokens += InputTokens(h.tokens);
            if (h.has_pairs) pairs += h.pairs.context.B;
          }
          // The whole step's counts, over every data-parallel rank.
          const auto global = impl->step->global_counts({double(r->targets), double(r->tokens), double(pairs)});
          r->targets = static_cast<int64_t>(global[0]);
          r->tokens = static_cast<int64_t>(global[1]);
          pairs = static_cast<int64_t>(global[2]);
          const double norm = static_cast<double>(r->targets), pair_norm = std::max<int64_t>(pairs, 1), ws = impl->pair_loss_weight;
          StepResult s;
          {
            compat::CudaAutocastScope autocast(impl->bf16);
            s = impl->step->run(
                batches.size(),
                [&](size_t i) {
                  const auto batch = ToDevice(batches[i].tokens, st->device);
                  auto l = ed_loss(model, batch, impl->label_smoothing, impl->freeze_encoder);
                  auto loss = l.loss_sum / norm;
                  torch::Tensor pair_sum = torch::zeros({}, loss.options()), pair_correct = torch::zeros({}, loss.options().dtype(torch::kInt64));
                  if (batches[i].has_pairs) {
                    auto c = PairLoss(model, batches[i], batch, l, st->device, impl->step->reducer());
                    // Data-parallel: the gradient from the whole group's score matrix, the sums from this rank's rows.
                    loss = loss + ws * (c.grad_loss.defined() ? c.grad_loss : c.loss_sum) / pair_norm;
                    pair_sum = c.loss_sum.detach();
                    pair_correct = c.correct;
                  }
                  return MicroBatchLoss{loss, {l.loss_sum, l.ce_sum, l.correct, pair_sum, pair_correct}};
                },
                {encoder_lr, lr});  // the order of Impl::optimizers()
          }
          r->loss = s.stats[0] / norm + ws * s.stats[3] / pair_norm;
          r->ce = s.stats[1] / norm;
          r->correct = static_cast<int64_t>(s.stats[2]);
          r->pair = pairs ? s.stats[3] / pair_norm : 0;
          r->pair_acc = pairs ? s.stats[4] / pairs : 0;
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
          o.Set("pairLoss", r->pair);
          o.Set("pairAccuracy", r->pair_acc);
          o.Set("finite", r->finite);
          return o;
        });
  });
}

// evaluate(batch) -> Promise<{ ceSum, lossSum, targets, correct, pairSum, pairCorrect, pairRows }>:
// no dropout, no update. exp(sum ceSum / sum targets) over a validation set is its token-level
// perplexity; the pair fields count the batch's bi-encoder pairs (ed.bi_encoder), 0 without.
Napi::Value EdTrainerWrap::Evaluate(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto impl = impl_;
    if (!impl->model || !impl->model->model) throw Napi::Error::New(env, "the trainer's model was disposed");
    auto h = std::make_shared<TrainHostBatch>(ParseTrainBatch(info.Length() ? info[0] : env.Undefined(), *impl->model->model, "batch"));
    struct Result {
      double ce = 0, loss = 0, pair = 0;
      int64_t targets = 0, correct = 0, pair_correct = 0, pair_rows = 0;
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
          r->targets = static_cast<int64_t>(h->tokens.positions.size());
          const auto batch = ToDevice(h->tokens, st->device);
          auto l = ed_loss(st->model, batch, impl->label_smoothing, true);
          if (r->targets > 0) {
            r->ce = l.ce_sum.item<double>();
            r->loss = l.loss_sum.item<double>();
            r->correct = l.correct.item<int64_t>();
          }
          if (h->has_pairs) {
            auto c = PairLoss(st->model, *h, batch, l, st->device, nullptr);
            r->pair = c.loss_sum.item<double>();
            r->pair_correct = c.correct.item<int64_t>();
            r->pair_rows = c.rows;
          }
        },
        [r](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("ceSum", r->ce);
          o.Set("lossSum", r->loss);
          o.Set("targets", static_cast<double>(r->targets));
          o.Set("correct", static_cast<double>(r->correct));
          o.Set("pairSum", r->pair);
          o.Set("pairCorrect", static_cast<double>(r->pair_correct));
          o.Set("pairRows", static_cast<double>(r->pair_rows));
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
