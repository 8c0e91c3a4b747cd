#include "binding/distilbert_model.h"

#include "binding/addon.h"
#include "binding/util.h"

namespace chatbert::js {

DistilBertConfig ParseDistilBertConfig(const Napi::Object& o) {
  DistilBertConfig c;
  const int64_t big = int64_t(1) << 31;
  c.vocab_size = IntegerOption(o, "vocab_size", c.vocab_size, 1, big);
  c.dim = IntegerOption(o, "dim", c.dim, 1, 1 << 16);
  c.n_layers = IntegerOption(o, "n_layers", c.n_layers, 1, 1024);
  c.n_heads = IntegerOption(o, "n_heads", c.n_heads, 1, 1024);
  c.hidden_dim = IntegerOption(o, "hidden_dim", c.hidden_dim, 1, 1 << 20);
  c.max_position_embeddings = IntegerOption(o, "max_position_embeddings", c.max_position_embeddings, 1, 1 << 20);
  c.dropout = NumberOption(o, "dropout", c.dropout, 0, 0.999);
  c.attention_dropout = NumberOption(o, "attention_dropout", c.attention_dropout, 0, 0.999);
  c.sinusoidal_pos_embds = BoolOption(o, "sinusoidal_pos_embds", c.sinusoidal_pos_embds);
  c.initializer_range = NumberOption(o, "initializer_range", c.initializer_range, 1e-12, 10);
  c.pad_token_id = IntegerOption(o, "pad_token_id", c.pad_token_id, 0, big);
  c.activation = StringOption(o, "activation", c.activation);
  c.length_classes = IntegerOption(o, "length_classes", c.length_classes, 0, 1 << 16);
  c.score_head = BoolOption(o, "score_head", c.score_head);
  c.seq_classif_dropout = NumberOption(o, "seq_classif_dropout", c.seq_classif_dropout, 0, 1);
  c.pool_layers = IntegerOption(o, "pool_layers", c.pool_layers, 0, 1 << 16);
  c.pool_tower_layers = IntegerOption(o, "pool_tower_layers", c.pool_tower_layers, 0, 1 << 16);
  c.pool_stop_gradient = BoolOption(o, "pool_stop_gradient", c.pool_stop_gradient);
  c.copy_from = IntegerOption(o, "copy_from", c.copy_from, 0, 1 << 20);
  try {
    c.validate();
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(o.Env(), e.what());
  }
  return c;
}

static Napi::Object ConfigToObject(Napi::Env env, const DistilBertConfig& c) {
  auto o = Napi::Object::New(env);
  o.Set("vocab_size", c.vocab_size);
  o.Set("dim", c.dim);
  o.Set("n_layers", c.n_layers);
  o.Set("n_heads", c.n_heads);
  o.Set("hidden_dim", c.hidden_dim);
  o.Set("max_position_embeddings", c.max_position_embeddings);
  o.Set("dropout", c.dropout);
  o.Set("attention_dropout", c.attention_dropout);
  o.Set("sinusoidal_pos_embds", c.sinusoidal_pos_embds);
  o.Set("initializer_range", c.initializer_range);
  o.Set("pad_token_id", c.pad_token_id);
  o.Set("activation", c.activation);
  o.Set("length_classes", c.length_classes);
  o.Set("score_head", c.score_head);
  o.Set("seq_classif_dropout", c.seq_classif_dropout);
  o.Set("pool_layers", c.pool_layers);
  o.Set("pool_tower_layers", c.pool_tower_layers);
  o.Set("pool_stop_gradient", c.pool_stop_gradient);
  o.Set("copy_from", c.copy_from);
  return o;
}

static Napi::Array StringsToArray(Napi::Env env, const std::vector<std::string>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(i, v[i]);
  return a;
}

Napi::Function DistilBertModelWrap::Init(Napi::Env env) {
  auto cls = DefineClass(env, "DistilBertModel",
                         {StaticMethod<&DistilBertModelWrap::Create>("create"),
                          InstanceMethod<&DistilBertModelWrap::Forward>("forward"),
                          InstanceMethod<&DistilBertModelWrap::Save>("save"),
                          InstanceMethod<&DistilBertModelWrap::Dispose>("dispose"),
                          InstanceAccessor<&DistilBertModelWrap::GetDisposed>("disposed"),
                          InstanceAccessor<&DistilBertModelWrap::GetDevice>("device"),
                          InstanceAccessor<&DistilBertModelWrap::GetNumParameters>("numParameters"),
                          InstanceAccessor<&DistilBertModelWrap::GetConfig>("config"),
                          InstanceAccessor<&DistilBertModelWrap::GetLoadReport>("loadReport")});
  Data(env).distilbert_model = Napi::Persistent(cls);
  return cls;
}

DistilBertModelWrap::DistilBertModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DistilBertModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "DistilBertModel cannot be constructed directly: use DistilBertModel.create(config, options)");
  // Take the state out of the External, so that dispose() frees the model at once rather than
  // when the garbage collector gets to the External.
  state_ = std::move(*info[0].As<Napi::External<std::shared_ptr<DistilBertState>>>().Data());
  external_bytes_ = state_->bytes;
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), external_bytes_);
}

DistilBertModelWrap::~DistilBertModelWrap() {
  // Finalizers may not call into JS; the external-memory count is returned at GC time where the
  // environment still allows it.
  if (external_bytes_ && !Env().IsExceptionPending()) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_bytes_);
}

void DistilBertModelWrap::Release(Napi::Env env) {
  state_.reset();
  if (external_bytes_) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -external_bytes_);
    external_bytes_ = 0;
  }
}

std::shared_ptr<DistilBertState> DistilBertModelWrap::state(Napi::Env env) const {
  if (!state_) throw Napi::Error::New(env, "this DistilBertModel was disposed");
  return state_;
}

// create(config: object, options?: { device?: string, weights?: string, seed?: number })
Napi::Value DistilBertModelWrap::Create(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "DistilBertModel.create(config, options): config must be an object");
  auto config = ParseDistilBertConfig(info[0].As<Napi::Object>());
  Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  if (info.Length() > 1 && !info[1].IsObject() && !info[1].IsUndefined()) throw Napi::TypeError::New(env, "DistilBertModel.create: options must be an object");
  const std::string device_spec = StringOption(opts, "device", "cpu");
  const std::string weights = StringOption(opts, "weights", "");
  const int64_t seed = IntegerOption(opts, "seed", -1, -1, (int64_t(1) << 53));
  const std::string dtype = StringOption(opts, "dtype", "float32");
  if (dtype != "float32" && dtype != "bfloat16") throw Napi::RangeError::New(env, "options.dtype must be 'float32' or 'bfloat16', got '" + dtype + "'");
  auto state = std::make_shared<DistilBertState>();
  return PromiseWorker::Queue(
      env, Napi::Object(),
      [state, config, device_spec, weights, seed, dtype] {
        state->device = ParseDevice(device_spec);
        if (seed >= 0) torch::manual_seed(static_cast<uint64_t>(seed));
        state->model = DistilBertForMaskedLM(config);
        if (!weights.empty()) {
          LoadOptions lo;
          // Heads ChatBERT adds may be absent from the file (a pretrained DistilBERT): they keep their init.
          lo.optional = {"distilbert.embeddings.position_ids", "length_head.weight", "length_head.bias", "pre_classifier.weight", "pre_classifier.bias",
                         "classifier.weight", "classifier.bias"};
          if (config.sinusoidal_pos_embds) lo.optional.insert("distilbert.embeddings.position_embeddings.weight");
          for (const auto& kv : state->model->named_parameters())
            if (kv.key().rfind("pool_tower.", 0) == 0) lo.optional.insert(kv.key());
          lo.ignore = {"vocab_projector.weight", "distilbert.embeddings.position_ids"};
          lo.base_prefix = "distilbert.";
          state->report = load_safetensors(*state->model, weights, lo);
        }
        // bf16 weights are for inference (generation benchmarks, serving); training keeps float32
        // master weights and uses autocast instead.
        state->model->to(state->device, dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
        state->model->eval();
        int64_t bytes = 0;
        for (const auto& p : state->model->parameters()) bytes += p.numel() * p.element_size();
        state->bytes = bytes;
      },
      [state](Napi::Env env) -> Napi::Value {
        return Data(env).distilbert_model.New({Napi::External<std::shared_ptr<DistilBertState>>::New(
            env, new std::shared_ptr<DistilBertState>(state), [](Napi::Env, std::shared_ptr<DistilBertState>* p) { delete p; })});
      });
  });
}

// forward(inputIds: Int32Array, attentionMask: Int32Array|Uint8Array|null, batch, seqLen,
//         options?: { positions?: Int32Array, output?: 'logits' | 'hidden' }) -> Promise<Float32Array>
// positions selects rows of the flattened [batch * seqLen] sequence: the MLM head then runs only
// there and the result is [positions.length, vocab_size].
Napi::Value DistilBertModelWrap::Forward(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
  Napi::Env env = info.Env();
  auto st = state(env);
  const auto& cfg = st->model->config;
  if (info.Length() < 4) throw Napi::TypeError::New(env, "forward(inputIds, attentionMask, batch, seqLen, options?) needs 4 arguments");
  const int64_t B = IntegerArg(info[2], "batch", 1, 1 << 20);
  const int64_t T = IntegerArg(info[3], "seqLen", 1, cfg.max_position_embeddings);
  auto ids = Int32ArrayArg(info[0], "inputIds");
  if (static_cast<int64_t>(ids.size()) != B * T)
    throw Napi::RangeError::New(env, "inputIds has " + std::to_string(ids.size()) + " elements, expected batch*seqLen = " + std::to_string(B * T));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= cfg.vocab_size)
      throw Napi::RangeError::New(env, "inputIds[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
  std::vector<uint8_t> mask;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    mask = MaskArg(info[1], "attentionMask", static_cast<size_t>(B * T));
    for (int64_t b = 0; b < B; ++b) {
      bool any = false;
      for (int64_t t = 0; t < T && !any; ++t) any = mask[b * T + t] != 0;
      if (!any) throw Napi::RangeError::New(env, "attentionMask row " + std::to_string(b) + " attends to no token");
    }
  }
  Napi::Object opts = info.Length() > 4 && info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(env);
  const std::string output = StringOption(opts, "output", "logits");
  if (output != "logits" && output != "hidden") throw Napi::RangeError::New(env, "options.output must be 'logits' or 'hidden', got '" + output + "'");
  std::vector<int32_t> positions;
  const bool has_positions = !opts.Get("positions").IsUndefined();
  if (has_positions) {
    positions = Int32ArrayArg(opts.Get("positions"), "options.positions");
    for (size_t i = 0; i < positions.size(); ++i)
      if (positions[i] < 0 || positions[i] >= B * T)
        throw Napi::RangeError::New(env, "options.positions[" + std::to_string(i) + "] = " + std::to_string(positions[i]) + " is outside [0, batch*seqLen)");
  }
  auto result = std::make_shared<torch::Tensor>();
  return PromiseWorker::Queue(
      env, Value(),
      [st, B, T, ids = std::move(ids), mask = std::move(mask), positions = std::move(positions), has_positions, output, result] {
        std::lock_guard<std::mutex> lock(st->mu);
        torch::InferenceMode guard;
        auto dev = st->device;
        auto input_ids = torch::from_blob(const_cast<int32_t*>(ids.data()), {B, T}, torch::kInt32).to(dev, torch::kInt64);
        torch::Tensor attn;
        if (!mask.empty()) attn = torch::from_blob(const_cast<uint8_t*>(mask.data()), {B, T}, torch::kUInt8).to(dev);
        auto hidden = st->model->hidden_states(input_ids, attn);
        auto src = output == "hidden" ? CopySource() : st->model->copy_source(hidden, input_ids, attn);
        // The flat position of each output row, for the copy head.
        auto flat = torch::arange(B * T, input_ids.options());
        hidden = hidden.reshape({B * T, -1});
        if (has_positions) {
          auto idx = torch::from_blob(const_cast<int32_t*>(positions.data()), {static_cast<int64_t>(positions.size())}, torch::kInt32).to(dev, torch::kInt64);
          hidden = hidden.index_select(0, idx);
          flat = idx;
        }
        auto out = output == "hidden" ? hidden : st->model->mlm_logits(hidden, &src, flat);
        *result = out.to(torch::kCPU, torch::kFloat32).contiguous();
      },
      [result](Napi::Env env) { return TensorToTypedArray(env, *result); });
  });
}

// save(path: string) -> Promise<void>: model.safetensors in Hugging Face's names (tied projection
// weight omitted, as transformers does).
Napi::Value DistilBertModelWrap::Save(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
  Napi::Env env = info.Env();
  auto st = state(env);
  const std::string path = StringArg(info.Length() ? info[0] : env.Undefined(), "path");
  return PromiseWorker::Queue(
      env, Value(),
      [st, path] {
        std::lock_guard<std::mutex> lock(st->mu);
        save_safetensors(*st->model, path, {{"format", "pt"}});
      },
      nullptr);
  });
}

Napi::Value DistilBertModelWrap::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value DistilBertModelWrap::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

Napi::Value DistilBertModelWrap::GetDevice(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state(info.Env())->device.str()); }

Napi::Value DistilBertModelWrap::GetNumParameters(const Napi::CallbackInfo& info) {
  auto st = state(info.Env());
  int64_t n = 0;
  for (const auto& p : st->model->parameters()) n += p.numel();
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value DistilBertModelWrap::GetConfig(const Napi::CallbackInfo& info) { return ConfigToObject(info.Env(), state(info.Env())->model->config); }

Napi::Value DistilBertModelWrap::GetLoadReport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = state(env);
  auto o = Napi::Object::New(env);
  o.Set("loaded", StringsToArray(env, st->report.loaded));
  o.Set("unexpected", StringsToArray(env, st->report.unexpected));
  o.Set("missing", StringsToArray(env, st->report.missing));
  return o;
}

}  // namespace chatbert::js
