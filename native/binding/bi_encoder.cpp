#include "binding/bi_encoder.h"

#include <algorithm>

#include "binding/addon.h"
#include "binding/util.h"
#include "binding/vector_index.h"

namespace chatbert::js {

int64_t HostTokenBatch::tokens() const {
  int64_t n = 0;
  for (uint8_t m : mask) n += m;
  return n;
}

std::pair<torch::Tensor, torch::Tensor> HostTokenBatch::to(torch::Device device) const {
  auto ids_t = torch::from_blob(const_cast<int32_t*>(ids.data()), {B, T}, torch::kInt32).to(device, torch::kInt64);
  auto mask_t = torch::from_blob(const_cast<uint8_t*>(mask.data()), {B, T}, torch::kUInt8).to(device);
  return {ids_t, mask_t};
}

HostTokenBatch ParseTokenBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, name + " must be an object { inputIds, attentionMask, batch, seqLen }");
  auto o = v.As<Napi::Object>();
  HostTokenBatch h;
  h.B = IntegerArg(o.Get("batch"), name + ".batch", 1, 1 << 20);
  h.T = IntegerArg(o.Get("seqLen"), name + ".seqLen", 1, cfg.max_position_embeddings);
  h.ids = Int32ArrayArg(o.Get("inputIds"), name + ".inputIds");
  if (static_cast<int64_t>(h.ids.size()) != h.B * h.T)
    throw Napi::RangeError::New(env, name + ".inputIds has " + std::to_string(h.ids.size()) + " elements, expected batch*seqLen = " + std::to_string(h.B * h.T));
  for (size_t i = 0; i < h.ids.size(); ++i)
    if (h.ids[i] < 0 || h.ids[i] >= cfg.vocab_size)
      throw Napi::RangeError::New(env, name + ".inputIds[" + std::to_string(i) + "] = " + std::to_string(h.ids[i]) + " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
  h.mask = MaskArg(o.Get("attentionMask"), name + ".attentionMask", h.ids.size());
  for (int64_t b = 0; b < h.B; ++b) {
    bool any = false;
    for (int64_t t = 0; t < h.T && !any; ++t) any = h.mask[b * h.T + t] != 0;
    // A row without tokens has no vector (mean pooling would divide by zero).
    if (!any) throw Napi::RangeError::New(env, name + ".attentionMask row " + std::to_string(b) + " attends to no token");
  }
  return h;
}

std::pair<torch::Tensor, torch::Tensor> ToDeviceUnpadded(const HostTokenBatch& h, torch::Device device) {
  auto t = h.to(device);
  if (std::all_of(h.mask.begin(), h.mask.end(), [](uint8_t m) { return m != 0; })) t.second = torch::Tensor();
  return t;
}

HostPairBatch ParsePairBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name, int64_t min_rows, const char* reply_noun) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, name + " must be an object { context, candidate, keys? }");
  auto o = v.As<Napi::Object>();
  HostPairBatch h;
  h.context = ParseTokenBatch(o.Get("context"), cfg, name + ".context");
  h.candidate = ParseTokenBatch(o.Get("candidate"), cfg, name + ".candidate");
  if (h.context.B != h.candidate.B)
    throw Napi::RangeError::New(env, name + ": " + std::to_string(h.context.B) + " contexts but " + std::to_string(h.candidate.B) + " " + reply_noun + " (one reply per context)");
  if (h.context.B < min_rows) throw Napi::RangeError::New(env, name + ": in-batch negatives need at least " + std::to_string(min_rows) + " rows, got " + std::to_string(h.context.B));
  auto k = o.Get("keys");
  if (!k.IsUndefined()) {
    h.keys = Int32ArrayArg(k, name + ".keys");
    if (static_cast<int64_t>(h.keys.size()) != h.context.B) throw Napi::RangeError::New(env, name + ".keys must have one entry per row");
  }
  return h;
}

ContrastiveBatch ToDevice(const HostPairBatch& h, torch::Device device) {
  ContrastiveBatch b;
  std::tie(b.context_ids, b.context_mask) = ToDeviceUnpadded(h.context, device);
  std::tie(b.candidate_ids, b.candidate_mask) = ToDeviceUnpadded(h.candidate, device);
  if (!h.keys.empty()) b.keys = torch::from_blob(const_cast<int32_t*>(h.keys.data()), {static_cast<int64_t>(h.keys.size())}, torch::kInt32).to(device, torch::kInt64);
  return b;
}

Napi::Function BiEncoderWrap::Init(Napi::Env env) {
  return DefineClass(env, "BiEncoder",
                     {InstanceMethod<&BiEncoderWrap::Encode>("encode"), InstanceMethod<&BiEncoderWrap::EncodeInto>("encodeInto"),
                      InstanceMethod<&BiEncoderWrap::Search>("search"), InstanceAccessor<&BiEncoderWrap::GetPooling>("pooling"),
                      InstanceAccessor<&BiEncoderWrap::GetDim>("dim")});
}

// new BiEncoder(model: DistilBertModel | EdModel, { pooling?: 'mean' | 'cls' })
BiEncoderWrap::BiEncoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BiEncoderWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsObject() && info[0].As<Napi::Object>().InstanceOf(Data(env).distilbert_model.Value())) {
    auto st = Napi::ObjectWrap<DistilBertModelWrap>::Unwrap(info[0].As<Napi::Object>())->state(env);
    dim_ = st->model->config.dim;
    mlm_ = st;
  } else if (info.Length() > 0 && EdModelWrap::Is(info[0])) {
    auto st = EdModelWrap::StateOf(info[0], "model");
    dim_ = st->model->encoder_config.dim;
    ed_ = st;
  } else {
    throw Napi::TypeError::New(env, "new BiEncoder(model, options): model must be a DistilBertModel or an EdModel");
  }
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  try {
    pooling_ = parse_pooling(StringOption(o, "pooling", "mean"));
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("options.") + e.what());
  }
}

PooledEncoder BiEncoderWrap::model(Napi::Env env) const {
  PooledEncoder e{mlm_.lock(), ed_.lock()};
  if (!(e.mlm && e.mlm->model) && !(e.ed && e.ed->model)) throw Napi::Error::New(env, "this BiEncoder's model was disposed");
  return e;
}

torch::Tensor PooledEncoder::encode(const HostTokenBatch& h, Pooling pooling) const {
  auto [ids, mask] = h.to(mlm ? mlm->device : ed->device);
  return mlm ? encode_pooled(mlm->model, ids, mask, pooling) : ed->model->encode_pooled(ids, mask, pooling);
}

// encode(batch) -> Promise<Float32Array> [batch * dim]
Napi::Value BiEncoderWrap::Encode(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = model(env);
    auto h = std::make_shared<HostTokenBatch>(ParseTokenBatch(info.Length() ? info[0] : env.Undefined(), st.config(), "batch"));
    auto out = std::make_shared<torch::Tensor>();
    const Pooling pooling = pooling_;
    return PromiseWorker::Queue(
        env, Value(),
        [st, h, pooling, out] {
          std::lock_guard<std::mutex> lock(st.mu());
          torch::InferenceMode guard;
          *out = st.encode(*h, pooling).to(torch::kCPU).contiguous().reshape({-1});
        },
        [out](Napi::Env env) { return TensorToTypedArray(env, *out); });
  });
}

// encodeInto(index: VectorIndex, batch) -> Promise<number>: appends the batch's vectors to the
// index (on its device) and resolves to the index's new size.
Napi::Value BiEncoderWrap::EncodeInto(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = model(env);
    if (info.Length() < 2) throw Napi::TypeError::New(env, "encodeInto(index, batch) needs 2 arguments");
    auto index = UnwrapVectorIndex(info[0], "index");
    if (index->dim != dim_) throw Napi::RangeError::New(env, "index has dim " + std::to_string(index->dim) + " but this encoder's vectors have " + std::to_string(dim_));
    auto h = std::make_shared<HostTokenBatch>(ParseTokenBatch(info[1], st.config(), "batch"));
    auto after = std::make_shared<int64_t>(0);
    const Pooling pooling = pooling_;
    return PromiseWorker::Queue(
        env, Value(),
        [st, index, h, pooling, after] {
          torch::Tensor v;
          {
            std::lock_guard<std::mutex> lock(st.mu());
            torch::InferenceMode guard;
            v = st.encode(*h, pooling);
          }
          // Locks are taken one after the other, never nested: no lock-order deadlock with search.
          std::lock_guard<std::mutex> lock(index->mu);
          torch::InferenceMode guard;
          if (!torch::isfinite(v).all().item<bool>()) throw std::runtime_error("encodeInto: the encoder produced non-finite vectors");
          index->add(v);
          *after = index->size.load();
        },
        [after](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*after)); });
  });
}

// search(index: VectorIndex, batch, k, options?: { chunkRows }) -> Promise<{ ids, scores, k }>:
// encodes the batch (queries) and returns each one's top-k rows of the index, best first.
Napi::Value BiEncoderWrap::Search(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = model(env);
    if (info.Length() < 3) throw Napi::TypeError::New(env, "search(index, batch, k, options?) needs 3 arguments");
    auto index = UnwrapVectorIndex(info[0], "index");
    if (index->dim != dim_) throw Napi::RangeError::New(env, "index has dim " + std::to_string(index->dim) + " but this encoder's vectors have " + std::to_string(dim_));
    auto h = std::make_shared<HostTokenBatch>(ParseTokenBatch(info[1], st.config(), "batch"));
    const int64_t k = IntegerArg(info[2], "k", 1, 1 << 20);
    Napi::Object o = info.Length() > 3 && info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(env);
    const int64_t chunk = IntegerOption(o, "chunkRows", 0, 0, int64_t(1) << 31);
    auto out = std::make_shared<std::pair<torch::Tensor, torch::Tensor>>();
    const Pooling pooling = pooling_;
    return PromiseWorker::Queue(
        env, Value(),
        [st, index, h, k, chunk, pooling, out] {
          torch::Tensor q;
          {
            std::lock_guard<std::mutex> lock(st.mu());
            torch::InferenceMode guard;
            q = st.encode(*h, pooling);
          }
          std::lock_guard<std::mutex> lock(index->mu);
          torch::InferenceMode guard;
          *out = index->search(q, k, chunk);
        },
        [out](Napi::Env env) { return SearchResultToObject(env, out->first, out->second); });
  });
}

Napi::Value BiEncoderWrap::GetPooling(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pooling_name(pooling_)); }
Napi::Value BiEncoderWrap::GetDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(dim_)); }

}  // namespace chatbert::js
