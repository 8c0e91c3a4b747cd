#include "binding/ed_model.h"

#include "binding/distilbert_model.h"
#include "binding/util.h"
#include "train/ed_objective.h"

namespace chatbert::js {

namespace {

// Marks EdModel instances, so that EdTrainer and edGenerate can tell one from any other object
// before unwrapping it (napi_type_tag_object).
const napi_type_tag kEdModelTag = {0x6564'6d6f'6465'6c21ULL, 0x6368'6174'6265'7274ULL};

EdDecoderConfig ParseDecoderConfig(const Napi::Object& o, const DistilBertConfig& enc) {
  EdDecoderConfig c;
  c.vocab_size = IntegerOption(o, "vocab_size", enc.vocab_size, 1, int64_t(1) << 31);
  c.n_embd = IntegerOption(o, "n_embd", c.n_embd, 1, 1 << 16);
  c.n_layer = IntegerOption(o, "n_layer", c.n_layer, 1, 1024);
  c.n_head = IntegerOption(o, "n_head", c.n_head, 1, 1024);
  c.n_inner = IntegerOption(o, "n_inner", c.n_inner, 1, 1 << 20);
  c.n_positions = IntegerOption(o, "n_positions", c.n_positions, 1, 1 << 20);
  c.encoder_dim = IntegerOption(o, "encoder_dim", enc.dim, 1, 1 << 16);
  c.dropout = NumberOption(o, "dropout", c.dropout, 0, 0.999);
  c.initializer_range = NumberOption(o, "initializer_range", c.initializer_range, 1e-12, 10);
  try {
    c.validate();
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(o.Env(), e.what());
  }
  return c;
}

Napi::Object DecoderConfigToObject(Napi::Env env, const EdDecoderConfig& c) {
  auto o = Napi::Object::New(env);
  o.Set("vocab_size", c.vocab_size);
  o.Set("n_embd", c.n_embd);
  o.Set("n_layer", c.n_layer);
  o.Set("n_head", c.n_head);
  o.Set("n_inner", c.n_inner);
  o.Set("n_positions", c.n_positions);
  o.Set("encoder_dim", c.encoder_dim);
  o.Set("dropout", c.dropout);
  o.Set("initializer_range", c.initializer_range);
  return o;
}

Napi::Object EncoderConfigToObject(Napi::Env env, const DistilBertConfig& c) {
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
  return o;
}

Napi::Array StringsToArray(Napi::Env env, const std::vector<std::string>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(i, v[i]);
  return a;
}

}  // namespace

void CheckVocab(Napi::Env env, const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& name) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab_size)
      throw Napi::RangeError::New(env, name + "[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
}

EdHostInput ParseEncoderInput(const Napi::Object& o, const EncoderDecoderImpl& model, const std::string& name, int64_t max_batch) {
  Napi::Env env = o.Env();
  const auto& cfg = model.encoder_config;
  EdHostInput h;
  const std::string p = name.empty() ? "" : name + ".";
  h.B = IntegerArg(o.Get("batch"), p + "batch", 1, max_batch);
  h.T = IntegerArg(o.Get("seqLen"), p + "seqLen", 1, cfg.max_position_embeddings);
  h.ids = Int32ArrayArg(o.Get("inputIds"), p + "inputIds");
  if (static_cast<int64_t>(h.ids.size()) != h.B * h.T)
    throw Napi::RangeError::New(env, p + "inputIds has " + std::to_string(h.ids.size()) + " elements, expected batch*seqLen = " + std::to_string(h.B * h.T));
  CheckVocab(env, h.ids, cfg.vocab_size, p + "inputIds");
  h.mask = MaskArg(o.Get("attentionMask"), p + "attentionMask", h.ids.size());
  for (int64_t b = 0; b < h.B; ++b) {
    bool any = false;
    for (int64_t t = 0; t < h.T && !any; ++t) any = h.mask[b * h.T + t] != 0;
    if (!any) throw Napi::RangeError::New(env, p + "attentionMask row " + std::to_string(b) + " attends to no token");
  }
  return h;
}

// { inputIds, attentionMask, batch, seqLen, decoderInputIds, labels, decoderLength }: labels hold
// the target of every decoder position, -100 where there is none (padding).
EdHostBatch ParseEdBatch(const Napi::Value& v, const EncoderDecoderImpl& model, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, name + " must be an object");
  auto o = v.As<Napi::Object>();
  EdHostBatch h;
  h.enc = ParseEncoderInput(o, model, name, 1 << 20);
  const auto& dcfg = model.decoder->config;
  h.S = IntegerArg(o.Get("decoderLength"), name + ".decoderLength", 1, dcfg.n_positions);
  const size_t n = static_cast<size_t>(h.enc.B * h.S);
  h.decoder_ids = Int32ArrayArg(o.Get("decoderInputIds"), name + ".decoderInputIds");
  if (h.decoder_ids.size() != n) throw Napi::RangeError::New(env, name + ".decoderInputIds has " + std::to_string(h.decoder_ids.size()) + " elements, expected batch*decoderLength = " + std::to_string(n));
  CheckVocab(env, h.decoder_ids, dcfg.vocab_size, name + ".decoderInputIds");
  auto labels = Int32ArrayArg(o.Get("labels"), name + ".labels");
  if (labels.size() != n) throw Napi::RangeError::New(env, name + ".labels has " + std::to_string(labels.size()) + " elements, expected batch*decoderLength = " + std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    if (labels[i] == -100) continue;
    if (labels[i] < 0 || labels[i] >= dcfg.vocab_size)
      throw Napi::RangeError::New(env, name + ".labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) + " is outside the vocabulary (use -100 for no target)");
    h.positions.push_back(static_cast<int32_t>(i));
    h.labels.push_back(labels[i]);
  }
  return h;
}

EdBatch EdBatchToDevice(const EdHostBatch& h, torch::Device dev) {
  auto i32 = [&](const std::vector<int32_t>& v, std::vector<int64_t> shape) {
    return torch::from_blob(const_cast<int32_t*>(v.data()), shape, torch::kInt32).to(dev, torch::kInt64);
  };
  EdBatch b;
  b.input_ids = i32(h.enc.ids, {h.enc.B, h.enc.T});
  b.attention_mask = torch::from_blob(const_cast<uint8_t*>(h.enc.mask.data()), {h.enc.B, h.enc.T}, torch::kUInt8).to(dev);
  b.decoder_input_ids = i32(h.decoder_ids, {h.enc.B, h.S});
  b.positions = i32(h.positions, {static_cast<int64_t>(h.positions.size())});
  b.labels = i32(h.labels, {static_cast<int64_t>(h.labels.size())});
  return b;
}

Napi::Function EdModelWrap::Init(Napi::Env env) {
  // The constructor reference travels as the data of create(), which makes new instances; it is
  // freed with the environment.
  auto* ctor = new Napi::FunctionReference();
  auto cls = DefineClass(env, "EdModel",
                         {StaticMethod<&EdModelWrap::Create>("create", napi_default, ctor),
                          InstanceMethod<&EdModelWrap::Forward>("forward"),
                          InstanceMethod<&EdModelWrap::Evaluate>("evaluate"),
                          InstanceMethod<&EdModelWrap::Save>("save"),
                          InstanceMethod<&EdModelWrap::Dispose>("dispose"),
                          InstanceAccessor<&EdModelWrap::GetDisposed>("disposed"),
                          InstanceAccessor<&EdModelWrap::GetDevice>("device"),
                          InstanceAccessor<&EdModelWrap::GetNumParameters>("numParameters"),
                          InstanceAccessor<&EdModelWrap::GetConfig>("config"),
                          InstanceAccessor<&EdModelWrap::GetLoadReport>("loadReport")});
  *ctor = Napi::Persistent(cls);
  env.AddCleanupHook([ctor] { delete ctor; });
  return cls;
}

EdModelWrap::EdModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EdModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "EdModel cannot be constructed directly: use EdModel.create(config, options)");
  state_ = std::move(*info[0].As<Napi::External<std::shared_ptr<EdState>>>().Data());
  info.This().As<Napi::Object>().TypeTag(&kEdModelTag);
  external_bytes_ = state_->bytes;
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), external_bytes_);
}

EdModelWrap::~EdModelWrap() {
  if (external_bytes_ && !Env().IsExceptionPending()) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_bytes_);
}

void EdModelWrap::Release(Napi::Env env) {
  state_.reset();
  if (external_bytes_) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -external_bytes_);
    external_bytes_ = 0;
  }
}

std::shared_ptr<EdState> EdModelWrap::state(Napi::Env env) const {
  if (!state_) throw Napi::Error::New(env, "this EdModel was disposed");
  return state_;
}

bool EdModelWrap::Is(const Napi::Value& v) { return v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kEdModelTag); }

std::shared_ptr<EdState> EdModelWrap::StateOf(const Napi::Value& v, const std::string& what) {
  if (!Is(v)) throw Napi::TypeError::New(v.Env(), what + " must be an EdModel");
  return Napi::ObjectWrap<EdModelWrap>::Unwrap(v.As<Napi::Object>())->state(v.Env());
}

// create(config: { encoder: DistilBertConfig fields, decoder: { n_embd, n_layer, n_head, n_inner,
//   n_positions, dropout, ... } }, options?: { device, weights?: ED model.safetensors,
//   encoderWeights?: a Hugging Face DistilBERT model.safetensors, seed, dtype })
Napi::Value EdModelWrap::Create(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "EdModel.create(config, options): config must be an object");
    auto co = info[0].As<Napi::Object>();
    if (!co.Get("encoder").IsObject()) throw Napi::TypeError::New(env, "EdModel.create: config.encoder must be an object (DistilBERT fields)");
    if (!co.Get("decoder").IsObject()) throw Napi::TypeError::New(env, "EdModel.create: config.decoder must be an object");
    auto enc = ParseDistilBertConfig(co.Get("encoder").As<Napi::Object>());
    auto dec = ParseDecoderConfig(co.Get("decoder").As<Napi::Object>(), enc);
    if (dec.encoder_dim != enc.dim) throw Napi::RangeError::New(env, "config.decoder.encoder_dim (" + std::to_string(dec.encoder_dim) + ") must equal config.encoder.dim (" + std::to_string(enc.dim) + ")");
    if (dec.vocab_size != enc.vocab_size) throw Napi::RangeError::New(env, "config.decoder.vocab_size must equal config.encoder.vocab_size (one BERT vocabulary)");
    if (info.Length() > 1 && !info[1].IsObject() && !info[1].IsUndefined()) throw Napi::TypeError::New(env, "EdModel.create: options must be an object");
    Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const std::string device_spec = StringOption(opts, "device", "cpu");
    const std::string weights = StringOption(opts, "weights", "");
    const std::string encoder_weights = StringOption(opts, "encoderWeights", "");
    if (!weights.empty() && !encoder_weights.empty()) throw Napi::TypeError::New(env, "EdModel.create: give weights (a whole ED checkpoint) or encoderWeights (a DistilBERT), not both");
    const int64_t seed = IntegerOption(opts, "seed", -1, -1, (int64_t(1) << 53));
    const std::string dtype = StringOption(opts, "dtype", "float32");
    if (dtype != "float32" && dtype != "bfloat16") throw Napi::RangeError::New(env, "options.dtype must be 'float32' or 'bfloat16', got '" + dtype + "'");
    auto state = std::make_shared<EdState>();
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [state, enc, dec, device_spec, weights, encoder_weights, seed, dtype] {
          state->device = ParseDevice(device_spec);
          if (seed >= 0) torch::manual_seed(static_cast<uint64_t>(seed));
          state->model = EncoderDecoder(enc, dec);
          LoadOptions lo;
          lo.optional = {"distilbert.embeddings.position_ids"};
          if (enc.sinusoidal_pos_embds) lo.optional.insert("distilbert.embeddings.position_embeddings.weight");
          lo.ignore = {"distilbert.embeddings.position_ids"};
          if (!weights.empty()) {
            state->report = load_safetensors(*state->model, weights, lo);
          } else if (!encoder_weights.empty()) {
            // A DistilBERT checkpoint: only its encoder tensors are wanted. A holder module that
            // registers the encoder as "distilbert" gives the file's names; the MLM head is known
            // and skipped, a bare DistilBertModel file (no prefix) matches through base_prefix.
            torch::nn::Module holder;
            holder.register_module("distilbert", state->model->distilbert);
            lo.ignore.insert({"vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight", "vocab_layer_norm.bias", "vocab_projector.weight", "vocab_projector.bias"});
            lo.base_prefix = "distilbert.";
            state->report = load_safetensors(holder, encoder_weights, lo);
          }
          state->model->to(state->device, dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
          state->model->eval();
          int64_t bytes = 0;
          for (const auto& p : state->model->parameters()) bytes += p.numel() * p.element_size();
          state->bytes = bytes;
        },
        [state, ctor](Napi::Env env) -> Napi::Value {
          return ctor->New({Napi::External<std::shared_ptr<EdState>>::New(env, new std::shared_ptr<EdState>(state),
                                                                          [](Napi::Env, std::shared_ptr<EdState>* p) { delete p; })});
        });
  });
}

// forward({ inputIds, attentionMask, batch, seqLen, decoderInputIds, decoderLength, cache? })
//   -> Promise<Float32Array> logits [batch, decoderLength, vocab_size]
// cache = true feeds the decoder one position at a time through its key/value cache (as
// generation does); false runs all positions at once (as training does).
Napi::Value EdModelWrap::Forward(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "forward(request): request must be an object");
    auto r = info[0].As<Napi::Object>();
    auto in = std::make_shared<EdHostInput>(ParseEncoderInput(r, *st->model, "", 1 << 16));
    const auto& dcfg = st->model->decoder->config;
    const int64_t S = IntegerArg(r.Get("decoderLength"), "decoderLength", 1, dcfg.n_positions);
    auto dec = std::make_shared<std::vector<int32_t>>(Int32ArrayArg(r.Get("decoderInputIds"), "decoderInputIds"));
    if (static_cast<int64_t>(dec->size()) != in->B * S)
      throw Napi::RangeError::New(env, "decoderInputIds has " + std::to_string(dec->size()) + " elements, expected batch*decoderLength = " + std::to_string(in->B * S));
    CheckVocab(env, *dec, dcfg.vocab_size, "decoderInputIds");
    const bool cache = BoolOption(r, "cache", false);
    auto result = std::make_shared<torch::Tensor>();
    return PromiseWorker::Queue(
        env, Value(),
        [st, in, dec, S, cache, result] {
          std::lock_guard<std::mutex> lock(st->mu);
          torch::InferenceMode guard;
          auto dev = st->device;
          auto ids = torch::from_blob(in->ids.data(), {in->B, in->T}, torch::kInt32).to(dev, torch::kInt64);
          auto mask = torch::from_blob(in->mask.data(), {in->B, in->T}, torch::kUInt8).to(dev);
          auto dids = torch::from_blob(dec->data(), {in->B, S}, torch::kInt32).to(dev, torch::kInt64);
          auto& m = st->model;
          auto enc = m->encode(ids, mask);
          auto kv = m->decoder->start(enc, mask);
          torch::Tensor hidden;
          if (cache) {
            std::vector<torch::Tensor> steps;
            for (int64_t s = 0; s < S; ++s) steps.push_back(m->decoder->hidden(dids.narrow(1, s, 1), kv, true));
            hidden = torch::cat(steps, 1);
          } else {
            hidden = m->decoder->hidden(dids, kv, false);
          }
          *result = m->decoder->logits(hidden).to(torch::kCPU, torch::kFloat32).contiguous();
        },
        [result](Napi::Env env) { return TensorToTypedArray(env, *result); });
  });
}

// evaluate(batch: teacher-forcing batch) -> Promise<{ ceSum, targets, correct, rowCeSum }>: the summed token
// cross-entropy of the targets (no dropout, no label smoothing). exp(sum ceSum / sum targets) over a
// data set is its token-level perplexity.
Napi::Value EdModelWrap::Evaluate(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    auto h = std::make_shared<EdHostBatch>(ParseEdBatch(info.Length() ? info[0] : env.Undefined(), *st->model, "batch"));
    struct Result {
      double ce = 0;
      int64_t targets = 0, correct = 0;
      torch::Tensor row_ce;
    };
    auto r = std::make_shared<Result>();
    return PromiseWorker::Queue(
        env, Value(),
        [st, h, r] {
          std::lock_guard<std::mutex> lock(st->mu);
          r->targets = static_cast<int64_t>(h->positions.size());
          r->row_ce = torch::zeros({h->enc.B}, torch::kFloat32);
          if (r->targets == 0) return;
          torch::InferenceMode guard;
          st->model->eval();
          auto b = EdBatchToDevice(*h, st->device);
          auto l = ed_loss(st->model, b, 0.0, true);
          r->ce = l.ce_sum.item<double>();
          r->correct = l.correct.item<int64_t>();
          // Positions index the flattened [B, S] decoder input: row = position / S.
          r->row_ce = torch::zeros({h->enc.B}, l.nll.options()).index_add_(0, b.positions.div(h->S, "floor"), l.nll).to(torch::kCPU, torch::kFloat32);
        },
        [r](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("ceSum", r->ce);
          o.Set("targets", static_cast<double>(r->targets));
          o.Set("correct", static_cast<double>(r->correct));
          o.Set("rowCeSum", TensorToTypedArray(env, r->row_ce));
          return o;
        });
  });
}

// save(path) -> Promise<void>: one model.safetensors with "distilbert.*" and "decoder.*" tensors.
Napi::Value EdModelWrap::Save(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    const std::string path = StringArg(info.Length() ? info[0] : env.Undefined(), "path");
    return PromiseWorker::Queue(
        env, Value(),
        [st, path] {
          std::lock_guard<std::mutex> lock(st->mu);
          save_safetensors(*st->model, path, {{"format", "pt"}, {"chatbert", "ed"}});
        },
        nullptr);
  });
}

Napi::Value EdModelWrap::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value EdModelWrap::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

Napi::Value EdModelWrap::GetDevice(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state(info.Env())->device.str()); }

Napi::Value EdModelWrap::GetNumParameters(const Napi::CallbackInfo& info) {
  auto st = state(info.Env());
  auto o = Napi::Object::New(info.Env());
  int64_t enc = 0, dec = 0;
  for (const auto& p : st->model->distilbert->parameters()) enc += p.numel();
  for (const auto& p : st->model->decoder->parameters()) dec += p.numel();
  o.Set("encoder", static_cast<double>(enc));
  o.Set("decoder", static_cast<double>(dec));
  o.Set("total", static_cast<double>(enc + dec));
  return o;
}

Napi::Value EdModelWrap::GetConfig(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = state(env);
  auto o = Napi::Object::New(env);
  o.Set("encoder", EncoderConfigToObject(env, st->model->encoder_config));
  o.Set("decoder", DecoderConfigToObject(env, st->model->decoder->config));
  return o;
}

Napi::Value EdModelWrap::GetLoadReport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = state(env);
  auto o = Napi::Object::New(env);
  o.Set("loaded", StringsToArray(env, st->report.loaded));
  o.Set("unexpected", StringsToArray(env, st->report.unexpected));
  o.Set("missing", StringsToArray(env, st->report.missing));
  return o;
}

}  // namespace chatbert::js
