// edGenerate(model, request) -> Promise<result>: ChatBERT-ED decoding off the JS thread, with the
// tokens streamed to a callback as they are produced and an abort flag in shared memory.
// edOptionSpec() -> the decoding options' table (generate/ed_options.h), which also parses them.
#include "binding/ed_generate.h"

#include <algorithm>
#include <atomic>

#include "binding/ed_model.h"
#include "binding/option_parse.h"
#include "binding/streaming_worker.h"
#include "binding/util.h"
#include "generate/ed.h"

namespace chatbert::js {

namespace {

struct TokenStep {
  int64_t step;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> active;
};

class EdWorker : public StreamingWorker<TokenStep> {
 public:
  EdWorker(Napi::Env env, Napi::Object model, std::shared_ptr<EdState> st, EdGenerateOptions opt, EdSpecialIds ids, EdHostInput input,
           Napi::Value on_token, Napi::Value abort)
      : StreamingWorker<TokenStep>(env, "chatbert.ed", model, on_token, abort, "onToken"),
        st_(std::move(st)),
        opt_(std::move(opt)),
        ids_(std::move(ids)),
        input_(std::move(input)) {}

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      std::lock_guard<std::mutex> lock(st_->mu);
      auto dev = st_->device;
      auto ids = torch::from_blob(input_.ids.data(), {input_.B, input_.T}, torch::kInt32).to(dev, torch::kInt64);
      auto mask = torch::from_blob(input_.mask.data(), {input_.B, input_.T}, torch::kUInt8).to(dev);
      st_->model->eval();
      EdProgress cb;
      if (HasCallback()) {
        cb = [&](int64_t step, const std::vector<int64_t>& tokens, const std::vector<uint8_t>& active) {
          TokenStep s{step, std::vector<int32_t>(tokens.begin(), tokens.end()), active};
          progress.Send(&s, 1);
        };
      }
      result_ = ed_generate(st_->model, ids, mask, opt_, ids_, cb, AbortFlag());
    } catch (...) {
      SetError(CurrentExceptionMessage());
    }
  }

  Napi::Object StepValue(Napi::Env env, const TokenStep& step) override {
    auto o = Napi::Object::New(env);
    o.Set("step", static_cast<double>(step.step));
    auto t = Napi::Int32Array::New(env, step.tokens.size());
    std::copy(step.tokens.begin(), step.tokens.end(), t.Data());
    auto a = Napi::Uint8Array::New(env, step.active.size());
    std::copy(step.active.begin(), step.active.end(), a.Data());
    o.Set("tokens", t);
    o.Set("active", a);
    return o;
  }

  Napi::Value Result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("tokens", TensorToTypedArray(env, result_.tokens));
    o.Set("lengths", TensorToTypedArray(env, result_.lengths));
    o.Set("scores", TensorToTypedArray(env, result_.scores));
    o.Set("steps", static_cast<double>(result_.steps));
    o.Set("maxLength", static_cast<double>(opt_.max_length));
    return o;
  }

 private:
  std::shared_ptr<EdState> st_;
  EdGenerateOptions opt_;
  EdSpecialIds ids_;
  EdHostInput input_;
  EdResult result_;
};

EdGenerateOptions ParseOptions(const Napi::Object& o, int64_t n_positions) {
  auto opt = ParseOptionObject(o, ed_option_table(), n_positions);
  const std::string conflict = ed_options_conflict(opt);
  if (!conflict.empty()) throw Napi::RangeError::New(o.Env(), conflict);
  return opt;
}

// edGenerate(model, { inputIds, attentionMask, batch, seqLen, specialIds: { bos, eos, pad,
//   suppressed?: Int32Array }, options?, onToken?, abort? })
Napi::Value EdGenerate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    auto st = EdModelWrap::StateOf(info.Length() ? info[0] : env.Undefined(), "edGenerate(model, request): model");
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "edGenerate(model, request): request must be an object");
    auto r = info[1].As<Napi::Object>();
    const auto& dcfg = st->model->decoder->config;
    auto input = ParseEncoderInput(r, *st->model, "", 1 << 16);
    if (!r.Get("specialIds").IsObject()) throw Napi::TypeError::New(env, "specialIds must be an object { bos, eos, pad, suppressed? }");
    auto so = r.Get("specialIds").As<Napi::Object>();
    EdSpecialIds sid;
    sid.bos = IntegerArg(so.Get("bos"), "specialIds.bos", 0, dcfg.vocab_size - 1);
    sid.eos = IntegerArg(so.Get("eos"), "specialIds.eos", 0, dcfg.vocab_size - 1);
    sid.pad = IntegerArg(so.Get("pad"), "specialIds.pad", 0, dcfg.vocab_size - 1);
    if (!so.Get("suppressed").IsUndefined()) {
      auto s = Int32ArrayArg(so.Get("suppressed"), "specialIds.suppressed");
      CheckVocab(env, s, dcfg.vocab_size, "specialIds.suppressed");
      for (int32_t id : s) {
        if (id == sid.eos) throw Napi::RangeError::New(env, "specialIds.suppressed holds the end token (eos): no reply could end");
        sid.suppressed.push_back(id);
      }
    }
    auto ov = r.Get("options");
    if (!ov.IsUndefined() && !ov.IsObject()) throw Napi::TypeError::New(env, "options must be an object");
    auto opt = ParseOptions(ov.IsObject() ? ov.As<Napi::Object>() : Napi::Object::New(env), dcfg.n_positions);
    if (input.B * opt.num_beams > (1 << 16)) throw Napi::RangeError::New(env, "batch * numBeams must be at most 65536");
    auto cb = OptionalCallback(r, "onToken");
    auto abort = OptionalAbortFlag(r);
    auto* w = new EdWorker(env, info[0].As<Napi::Object>(), st, opt, std::move(sid), std::move(input), cb, abort);
    auto p = w->Promise();
    w->Queue();
    return p;
  });
}

// edLogitsProcessors({ logits: Float32Array [rows * vocab], rows, vocab, previous?: Int32Array
//   [rows * t], repetitionPenalty?, noRepeatNgramSize? }) -> Float32Array: the processors on a copy,
// for tests of their arithmetic.
Napi::Value EdLogitsProcessors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "edLogitsProcessors(args): args must be an object");
  auto o = info[0].As<Napi::Object>();
  const int64_t rows = IntegerArg(o.Get("rows"), "rows", 1, 1 << 16);
  const int64_t vocab = IntegerArg(o.Get("vocab"), "vocab", 1, 1 << 24);
  auto lv = o.Get("logits");
  if (!lv.IsTypedArray() || lv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "logits must be a Float32Array");
  auto la = lv.As<Napi::Float32Array>();
  if (static_cast<int64_t>(la.ElementLength()) != rows * vocab) throw Napi::RangeError::New(env, "logits must have rows * vocab elements");
  std::vector<int32_t> prev;
  if (!o.Get("previous").IsUndefined()) prev = Int32ArrayArg(o.Get("previous"), "previous");
  if (prev.size() % rows != 0) throw Napi::RangeError::New(env, "previous must have rows * t elements");
  CheckVocab(env, prev, vocab, "previous");
  const int64_t t = static_cast<int64_t>(prev.size()) / rows;
  const double penalty = NumberOption(o, "repetitionPenalty", 1.0, 1e-3, 100);
  const int64_t n = IntegerOption(o, "noRepeatNgramSize", 0, 0, 1 << 20);
  torch::Tensor logits;
  try {
    logits = torch::from_blob(la.Data(), {rows, vocab}, torch::kFloat32).clone();
    auto previous = torch::from_blob(prev.data(), {rows, t}, torch::kInt32).to(torch::kInt64);
    apply_repetition_penalty(logits, previous, penalty);
    std::vector<std::vector<int64_t>> hist(rows);
    for (int64_t r = 0; r < rows; ++r) hist[r].assign(prev.begin() + r * t, prev.begin() + (r + 1) * t);
    apply_no_repeat_ngram(logits, hist, n);
  } catch (...) {
    // Synchronous entry: a C++ exception must become a JS Error here, not escape.
    throw Napi::Error::New(env, CurrentExceptionMessage());
  }
  return TensorToTypedArray(env, logits.contiguous());
}

}  // namespace

void InitEdGenerate(Napi::Env env, Napi::Object exports) {
  exports.Set("edGenerate", Napi::Function::New(env, EdGenerate, "edGenerate"));
  exports.Set("edOptionSpec", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value { return OptionSpecToJs(info.Env(), ed_option_table()); }, "edOptionSpec"));
  exports.Set("edLogitsProcessors", Napi::Function::New(env, EdLogitsProcessors, "edLogitsProcessors"));
}

}  // namespace chatbert::js
