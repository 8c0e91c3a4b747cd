// imrGenerate(model, request) -> Promise<result>: ChatBERT-IMR decoding off the JS thread, with an
// optional per-iteration callback (the REPL's /steps view) and an abort flag in shared memory.
// imrOptionSpec() -> the decoding options' table (generate/imr_options.h), which also parses them.
#include "binding/imr_generate.h"

#include <atomic>
#include <optional>

#include "binding/addon.h"
#include "binding/distilbert_model.h"
#include "binding/option_parse.h"
#include "binding/streaming_worker.h"
#include "binding/util.h"
#include "generate/imr.h"
#include "generate/imr_graph.h"
#include "generate/imr_options.h"

namespace chatbert::js {

namespace {

struct Snapshot {
  int64_t iteration;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> masked;
};

class ImrWorker : public StreamingWorker<Snapshot> {
 public:
  ImrWorker(Napi::Env env, Napi::Object model, std::shared_ptr<DistilBertState> st, ImrOptions opt, ImrSpecialIds ids, int64_t B, int64_t T,
            int64_t L, std::vector<int32_t> input_ids, std::vector<uint8_t> mask, std::vector<int32_t> slot_start, bool end_token_model,
            std::vector<int32_t> fixed_tokens, std::vector<int32_t> lengths, std::vector<uint8_t> piece_kinds, Napi::Value on_iteration,
            Napi::Value abort)
      : StreamingWorker<Snapshot>(env, "chatbert.imr", model, on_iteration, abort, "onIteration", /*await_callback=*/true),
        st_(std::move(st)),
        opt_(std::move(opt)),
        ids_(ids),
        B_(B),
        T_(T),
        L_(L),
        input_ids_(std::move(input_ids)),
        mask_(std::move(mask)),
        slot_start_(std::move(slot_start)),
        end_token_model_(end_token_model),
        fixed_tokens_(std::move(fixed_tokens)),
        lengths_(std::move(lengths)),
        piece_kinds_(std::move(piece_kinds)) {}

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      std::lock_guard<std::mutex> lock(st_->mu);
      auto dev = st_->device;
      ImrRequest req;
      req.input_ids = torch::from_blob(input_ids_.data(), {B_, T_}, torch::kInt32).to(dev, torch::kInt64);
      req.attention_mask = torch::from_blob(mask_.data(), {B_, T_}, torch::kUInt8).to(dev);
      req.slot_start = torch::from_blob(slot_start_.data(), {B_}, torch::kInt32).to(torch::kInt64);
      req.slot_length = L_;
      req.has_length_head = static_cast<bool>(st_->model->length_head);
      req.end_token_model = end_token_model_;
      if (!fixed_tokens_.empty()) req.fixed_tokens = torch::from_blob(fixed_tokens_.data(), {B_, L_}, torch::kInt32).to(torch::kInt64);
      if (!lengths_.empty()) req.lengths = torch::from_blob(lengths_.data(), {B_}, torch::kInt32).to(torch::kInt64);
      if (!piece_kinds_.empty()) req.piece_kinds = torch::from_blob(piece_kinds_.data(), {static_cast<int64_t>(piece_kinds_.size())}, torch::kUInt8).to(torch::kInt64);
      st_->model->eval();
      ImrProgress cb;
      if (HasCallback()) {
        cb = [&](int64_t it, const torch::Tensor& tokens, const torch::Tensor& masked) {
          Snapshot s;
          s.iteration = it;
          auto t = tokens.to(torch::kCPU, torch::kInt32).contiguous();
          auto m = masked.to(torch::kCPU, torch::kUInt8).contiguous();
          s.tokens.assign(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + t.numel());
          s.masked.assign(m.data_ptr<uint8_t>(), m.data_ptr<uint8_t>() + m.numel());
          SendStep(progress, s);
        };
      }
      std::optional<ImrResult> replayed;
      if (!cb && ImrGraphCache::applies(req, opt_)) {
        if (!st_->imr_graphs) st_->imr_graphs = std::make_shared<ImrGraphCache>();
        replayed = st_->imr_graphs->generate(st_->model, req, opt_, ids_, AbortFlag());
      }
      result_ = replayed ? std::move(*replayed) : imr_generate(st_->model, req, opt_, ids_, cb, AbortFlag());
    } catch (...) {
      SetError(CurrentExceptionMessage());
    }
  }

  Napi::Object StepValue(Napi::Env env, const Snapshot& step) override {
    auto o = Napi::Object::New(env);
    o.Set("iteration", static_cast<double>(step.iteration));
    auto t = Napi::Int32Array::New(env, step.tokens.size());
    std::copy(step.tokens.begin(), step.tokens.end(), t.Data());
    auto m = Napi::Uint8Array::New(env, step.masked.size());
    std::copy(step.masked.begin(), step.masked.end(), m.Data());
    o.Set("tokens", t);
    o.Set("masked", m);
    return o;
  }

  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("tokens", TensorToTypedArray(env, result_.tokens));
    o.Set("lengths", TensorToTypedArray(env, result_.lengths));
    o.Set("committed", TensorToTypedArray(env, result_.committed));
    o.Set("confidence", TensorToTypedArray(env, result_.confidence));
    o.Set("iterations", static_cast<double>(result_.iterations));
    o.Set("cudaGraph", result_.cuda_graph);
    return o;
  }

 private:
  std::shared_ptr<DistilBertState> st_;
  ImrOptions opt_;
  ImrSpecialIds ids_;
  int64_t B_, T_, L_;
  std::vector<int32_t> input_ids_;
  std::vector<uint8_t> mask_;
  std::vector<int32_t> slot_start_;
  bool end_token_model_;
  std::vector<int32_t> fixed_tokens_, lengths_;
  std::vector<uint8_t> piece_kinds_;
  ImrResult result_;
};

ImrOptions ParseOptions(const Napi::Object& o, int64_t L) {
  auto opt = ParseOptionObject(o, imr_option_table(), L);
  const std::string conflict = imr_options_conflict(opt);
  if (!conflict.empty()) throw Napi::RangeError::New(o.Env(), conflict);
  return opt;
}

// imrGenerate(model, { inputIds, attentionMask, batch, seqLen, slotStart: Int32Array, slotLength,
//   specialIds: { pad, unk, cls, sep, mask }, endTokenModel, options, onIteration?, abort?, slotTokens?, lengths?,
//   pieceKinds?: Uint8Array [vocab] (generate/imr.h's kPiece*; wholeWords needs it) })
Napi::Value ImrGenerate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Data(env).distilbert_model.Value()))
      throw Napi::TypeError::New(env, "imrGenerate(model, request): model must be a DistilBertModel");
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "imrGenerate(model, request): request must be an object");
    auto st = Napi::ObjectWrap<DistilBertModelWrap>::Unwrap(info[0].As<Napi::Object>())->state(env);
    const auto& cfg = st->model->config;
    auto r = info[1].As<Napi::Object>();
    const int64_t B = IntegerArg(r.Get("batch"), "batch", 1, 1 << 16);
    const int64_t T = IntegerArg(r.Get("seqLen"), "seqLen", 2, cfg.max_position_embeddings);
    const int64_t L = IntegerArg(r.Get("slotLength"), "slotLength", 1, T - 1);
    auto ids = Int32ArrayArg(r.Get("inputIds"), "inputIds");
    if (static_cast<int64_t>(ids.size()) != B * T) throw Napi::RangeError::New(env, "inputIds has " + std::to_string(ids.size()) + " elements, expected batch*seqLen = " + std::to_string(B * T));
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= cfg.vocab_size) throw Napi::RangeError::New(env, "inputIds[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside the vocabulary");
    auto mask = MaskArg(r.Get("attentionMask"), "attentionMask", ids.size());
    auto starts = Int32ArrayArg(r.Get("slotStart"), "slotStart");
    if (static_cast<int64_t>(starts.size()) != B) throw Napi::RangeError::New(env, "slotStart must have one entry per row");
    for (int64_t b = 0; b < B; ++b) {
      if (starts[b] < 1 || starts[b] + L > T) throw Napi::RangeError::New(env, "slotStart[" + std::to_string(b) + "] = " + std::to_string(starts[b]) + " puts the slot outside the sequence");
      for (int64_t j = 0; j < L; ++j)
        if (!mask[b * T + starts[b] + j]) throw Napi::RangeError::New(env, "the slot of row " + std::to_string(b) + " is not attended (attentionMask is 0 inside it)");
    }
    if (!r.Get("specialIds").IsObject()) throw Napi::TypeError::New(env, "specialIds must be an object");
    auto so = r.Get("specialIds").As<Napi::Object>();
    ImrSpecialIds sid;
    sid.pad = IntegerArg(so.Get("pad"), "specialIds.pad", 0, cfg.vocab_size - 1);
    sid.unk = IntegerArg(so.Get("unk"), "specialIds.unk", 0, cfg.vocab_size - 1);
    sid.cls = IntegerArg(so.Get("cls"), "specialIds.cls", 0, cfg.vocab_size - 1);
    sid.sep = IntegerArg(so.Get("sep"), "specialIds.sep", 0, cfg.vocab_size - 1);
    sid.mask = IntegerArg(so.Get("mask"), "specialIds.mask", 0, cfg.vocab_size - 1);
    auto ov = r.Get("options");
    if (!ov.IsUndefined() && !ov.IsObject()) throw Napi::TypeError::New(env, "options must be an object");
    auto opt = ParseOptions(ov.IsObject() ? ov.As<Napi::Object>() : Napi::Object::New(env), L);
    const bool end_token_model = BoolOption(r, "endTokenModel", true);
    auto cb = OptionalCallback(r, "onIteration");
    auto abort = OptionalAbortFlag(r);
    std::vector<int32_t> fixed, lengths;
    if (!r.Get("slotTokens").IsUndefined()) {
      fixed = Int32ArrayArg(r.Get("slotTokens"), "slotTokens");
      if (static_cast<int64_t>(fixed.size()) != B * L) throw Napi::RangeError::New(env, "slotTokens has " + std::to_string(fixed.size()) + " elements, expected batch*slotLength = " + std::to_string(B * L));
      for (size_t i = 0; i < fixed.size(); ++i)
        if (fixed[i] < -1 || fixed[i] >= cfg.vocab_size) throw Napi::RangeError::New(env, "slotTokens[" + std::to_string(i) + "] = " + std::to_string(fixed[i]) + " is neither -1 (to decode) nor a token id");
    }
    if (!r.Get("lengths").IsUndefined()) {
      lengths = Int32ArrayArg(r.Get("lengths"), "lengths");
      if (static_cast<int64_t>(lengths.size()) != B) throw Napi::RangeError::New(env, "lengths must have one entry per row");
      for (size_t i = 0; i < lengths.size(); ++i)
        if (lengths[i] < 1 || lengths[i] > L) throw Napi::RangeError::New(env, "lengths[" + std::to_string(i) + "] = " + std::to_string(lengths[i]) + " is outside [1, slotLength]");
    }
    std::vector<uint8_t> kinds;
    if (!r.Get("pieceKinds").IsUndefined()) {
      auto v = r.Get("pieceKinds");
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) throw Napi::TypeError::New(env, "pieceKinds must be a Uint8Array");
      auto a = v.As<Napi::Uint8Array>();
      if (static_cast<int64_t>(a.ElementLength()) != cfg.vocab_size)
        throw Napi::RangeError::New(env, "pieceKinds has " + std::to_string(a.ElementLength()) + " elements, expected the vocabulary size " + std::to_string(cfg.vocab_size));
      kinds.assign(a.Data(), a.Data() + a.ElementLength());
      for (size_t i = 0; i < kinds.size(); ++i)
        if (kinds[i] > kPieceOther) throw Napi::RangeError::New(env, "pieceKinds[" + std::to_string(i) + "] = " + std::to_string(kinds[i]) + " is not a piece kind (0, 1 or 2)");
    }
    if (opt.whole_words && kinds.empty()) throw Napi::TypeError::New(env, "wholeWords needs pieceKinds: the kind of each vocabulary entry");
    auto* w = new ImrWorker(env, info[0].As<Napi::Object>(), st, opt, sid, B, T, L, std::move(ids), std::move(mask), std::move(starts), end_token_model,
                            std::move(fixed), std::move(lengths), std::move(kinds), cb, abort);
    auto p = w->Promise();
    w->Queue();
    return p;
  });
}

// imrOptionSpec() -> the decoding options' table (binding/option_parse.h describes its shape).
Napi::Value ImrOptionSpec(const Napi::CallbackInfo& info) { return OptionSpecToJs(info.Env(), imr_option_table()); }

}  // namespace

void InitImrGenerate(Napi::Env env, Napi::Object exports) {
  exports.Set("imrGenerate", Napi::Function::New(env, ImrGenerate, "imrGenerate"));
  exports.Set("imrOptionSpec", Napi::Function::New(env, ImrOptionSpec, "imrOptionSpec"));
}

}  // namespace chatbert::js
