#include "binding/contrastive_trainer.h"

#include <algorithm>
#include <cmath>

#include "binding/adamw_options.h"
#include "binding/addon.h"
#include "binding/bi_encoder.h"
#include "binding/optimizer_state.h"
#include "binding/process_group.h"
#include "binding/util.h"
#include "io/checkpoint.h"
#include "torch_compat.h"
#include "train/contrastive.h"

namespace chatbert::js {

namespace {

// One micro-batch of either objective: pairs (bi-encoder) or groups of joined inputs (cross-encoder).
struct HostTrainBatch {
  HostPairBatch pair;
  HostTokenBatch input;
  int64_t group = 0;  // > 0: cross-encoder rows per context
  int64_t contexts() const { return group ? input.B / group : pair.context.B; }
  int64_t tokens() const { return group ? input.tokens() : pair.context.tokens() + pair.candidate.tokens(); }
};

HostTrainBatch ParseCrossBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, name + " must be an object { input, groupSize }");
  auto o = v.As<Napi::Object>();
  HostTrainBatch h;
  h.input = ParseTokenBatch(o.Get("input"), cfg, name + ".input");
  h.group = IntegerArg(o.Get("groupSize"), name + ".groupSize", 2, 1 << 16);
  if (h.input.B % h.group != 0)
    throw Napi::RangeError::New(env, name + ": " + std::to_string(h.input.B) + " rows are not whole groups of " + std::to_string(h.group) + " (a context with its reply first, then other replies)");
  return h;
}

HostTrainBatch ParseTrainBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name, bool cross) {
  if (cross) return ParseCrossBatch(v, cfg, name);
  HostTrainBatch h;
  h.pair = ParsePairBatch(v, cfg, name, 2, "candidates");
  return h;
}

std::vector<HostTrainBatch> ParseTrainBatches(const Napi::Value& v, const DistilBertConfig& cfg, bool cross) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), cross ? "microBatches must be an array of { input, groupSize }" : "microBatches must be an array of { context, candidate, keys? }");
  auto a = v.As<Napi::Array>();
  if (a.Length() == 0) throw Napi::RangeError::New(v.Env(), "microBatches is empty");
  std::vector<HostTrainBatch> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ParseTrainBatch(a.Get(i), cfg, "microBatches[" + std::to_string(i) + "]", cross));
  return out;
}

}  // namespace

static ContrastiveLoss LossOf(DistilBertForMaskedLM& model, const HostTrainBatch& h, torch::Device dev, Pooling pooling, GradReducer* group = nullptr) {
  if (h.group) {
    auto [ids, mask] = ToDeviceUnpadded(h.input, dev);
    return cross_encoder_loss(model, ids, mask, h.group);
  }
  return in_batch_loss(model, ToDevice(h.pair, dev), pooling, group);
}

Napi::Function ContrastiveTrainerWrap::Init(Napi::Env env) {
  return DefineClass(env, "ContrastiveTrainer",
                     {InstanceMethod<&ContrastiveTrainerWrap::Step>("step"), InstanceMethod<&ContrastiveTrainerWrap::Evaluate>("evaluate"),
                      InstanceMethod<&ContrastiveTrainerWrap::SaveState>("saveState"), InstanceMethod<&ContrastiveTrainerWrap::LoadState>("loadState"),
                      InstanceMethod<&ContrastiveTrainerWrap::JoinGroup>("joinGroup"), InstanceAccessor<&ContrastiveTrainerWrap::GetSteps>("steps")});
}

// new ContrastiveTrainer(model: DistilBertModel, options?: { pooling, weightDecay, beta1, beta2, eps, clipNorm, bf16 })
ContrastiveTrainerWrap::ContrastiveTrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContrastiveTrainerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Data(env).distilbert_model.Value()))
    throw Napi::TypeError::New(env, "new ContrastiveTrainer(model, options): model must be a DistilBertModel");
  auto* wrap = Napi::ObjectWrap<DistilBertModelWrap>::Unwrap(info[0].As<Napi::Object>());
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  impl_ = std::make_shared<Impl>();
  impl_->model = wrap->state(env);
  try {
    impl_->pooling = parse_pooling(StringOption(o, "pooling", "mean"));
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("options.") + e.what());
  }
  const std::string objective = StringOption(o, "objective", "bi");
  if (objective != "bi" && objective != "cross") throw Napi::RangeError::New(env, "options.objective must be 'bi' or 'cross', got '" + objective + "'");
  impl_->cross = objective == "cross";
  if (impl_->cross && !impl_->model->model->pre_classifier)
    throw Napi::RangeError::New(env, "options.objective 'cross' needs a model with a score head (config score_head: true)");
  const auto opt = ParseOptimizerOptions(o);
  impl_->bf16 = BoolOption(o, "bf16", false) && impl_->model->device.is_cuda();
  // The MLM head gets no gradient from this objective: AdamW skips parameters without one, so
  // the head is carried unchanged (and the checkpoint stays a loadable DistilBertForMaskedLM).
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (const auto& p : impl_->model->model->named_parameters(true)) params.emplace_back(p.key(), p.value());
  impl_->optimizer = std::make_unique<AdamW>(params, opt.adamw);
  impl_->step = std::make_unique<TrainStep>(impl_->optimizers(), opt.step);
  model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
}

// step(microBatches: { context, candidate, keys? }[], { lr, seed }) -> Promise<{ loss, accuracy,
//   gradNorm, rows, tokens, finite }>. One optimizer step; each micro-batch is its own set of
// in-batch negatives, and the loss is the mean over all rows. A non-finite loss or gradient skips
// the update and reports finite = false.
Napi::Value ContrastiveTrainerWrap::Step(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto impl = impl_;
    auto batches = ParseTrainBatches(info.Length() ? info[0] : env.Undefined(), impl->model->model->config, impl->cross);
    Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const double lr = NumberArg(o.Get("lr"), "lr", 0, 10);
    const int64_t seed = IntegerOption(o, "seed", -1, -1, int64_t(1) << 53);
    struct Result {
      double loss = 0, accuracy = 0, grad_norm = 0;
      int64_t rows = 0, tokens = 0;
      bool finite = true;
    };
    auto r = std::make_shared<Result>();
    return PromiseWorker::Queue(
        env, Value(),
        [impl, batches = std::move(batches), lr, seed, r] {
          auto st = impl->model;
          std::lock_guard<std::mutex> lock(st->mu);
          auto& model = st->model;
          seed_step(seed, *impl->step);
          model->train();
          int64_t rows = 0;
          for (const auto& h : batches) {
            rows += h.contexts();
            r->tokens += h.tokens();
          }
          // The whole step's counts, over every data-parallel rank.
          const auto global = impl->step->global_counts({double(rows), double(r->tokens)});
          rows = static_cast<int64_t>(global[0]);
          r->tokens = static_cast<int64_t>(global[1]);
          r->rows = rows;
          StepResult s;
          {
            compat::CudaAutocastScope autocast(impl->bf16);
            s = impl->step->run(
                batches.size(),
                [&](size_t i) {
                  auto l = LossOf(model, batches[i], st->device, impl->pooling, impl->step->reducer());
                  // Data-parallel in-batch negatives: the gradient comes from the whole group's
                  // score matrix, the reported sums from this rank's rows.
                  auto grad_loss = l.grad_loss.defined() ? l.grad_loss : l.loss_sum;
                  return MicroBatchLoss{grad_loss / static_cast<double>(rows), {l.loss_sum, l.correct}};
                },
                {lr});
          }
          r->loss = s.stats[0] / rows;
          r->accuracy = s.stats[1] / rows;
          r->grad_norm = s.grad_norm;
          r->finite = s.finite;
          model->eval();
        },
        [r](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loss", r->loss);
          o.Set("accuracy", r->accuracy);
          o.Set("gradNorm", r->grad_norm);
          o.Set("rows", static_cast<double>(r->rows));
          o.Set("tokens", static_cast<double>(r->tokens));
          o.Set("finite", r->finite);
          return o;
        });
  });
}

// evaluate(batch: { context, candidate, keys? }) -> Promise<{ lossSum, correct, rows }> (no update).
Napi::Value ContrastiveTrainerWrap::Evaluate(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto impl = impl_;
    auto h = std::make_shared<HostTrainBatch>(ParseTrainBatch(info.Length() ? info[0] : env.Undefined(), impl->model->model->config, "batch", impl->cross));
    struct Result {
      double loss = 0;
      int64_t correct = 0, rows = 0;
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
          auto l = LossOf(st->model, *h, st->device, impl->pooling);
          r->loss = l.loss_sum.item<double>();
          r->correct = l.correct.item<int64_t>();
          r->rows = l.rows;
        },
        [r](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("lossSum", r->loss);
          o.Set("correct", static_cast<double>(r->correct));
          o.Set("rows", static_cast<double>(r->rows));
          return o;
        });
  });
}

// saveState(path) / loadState(path): binding/optimizer_state.h.
Napi::Value ContrastiveTrainerWrap::SaveState(const Napi::CallbackInfo& info) { return SaveOptimizerStateAsync(info, Value(), impl_, "chatbert AdamW state"); }

Napi::Value ContrastiveTrainerWrap::LoadState(const Napi::CallbackInfo& info) { return LoadOptimizerStateAsync(info, Value(), impl_); }

Napi::Value ContrastiveTrainerWrap::JoinGroup(const Napi::CallbackInfo& info) { return JoinGroupAsync(info, Value(), impl_); }

Napi::Value ContrastiveTrainerWrap::GetSteps(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(impl_->optimizer->steps())); }

}  // namespace chatbert::js
