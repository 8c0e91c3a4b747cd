#include "binding/vector_index.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "binding/util.h"
#include "io/checkpoint.h"

namespace chatbert::js {

namespace {

// Marks VectorIndex objects so that other classes can accept one as an argument safely.
constexpr napi_type_tag kVectorIndexTag = {0x6368617462657274ULL, 0x7665637469647831ULL};

constexpr int64_t kScoreBlockFloats = int64_t(1) << 24;  // 64 MiB of float32 scores per block
constexpr const char* kTensorName = "vectors";

std::vector<float> FiniteFloat32ArrayArg(const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(v.Env(), name + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  std::vector<float> out(a.Data(), a.Data() + a.ElementLength());
  for (size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i])) throw Napi::RangeError::New(v.Env(), name + "[" + std::to_string(i) + "] is not finite");
  return out;
}

}  // namespace

void VectorIndexState::add(const torch::Tensor& vectors) {
  TORCH_CHECK(vectors.dim() == 2 && vectors.size(1) == dim, "vectors must be [n, ", dim, "], got ", vectors.sizes());
  const int64_t n = vectors.size(0), have = size.load();
  if (n == 0) return;
  const int64_t capacity = data.defined() ? data.size(0) : 0;
  if (have + n > capacity) {
    const int64_t grown = std::max<int64_t>({have + n, 2 * capacity, 1024});
    auto bigger = torch::empty({grown, dim}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    if (have > 0) bigger.narrow(0, 0, have).copy_(data.narrow(0, 0, have));
    data = bigger;
  }
  data.narrow(0, have, n).copy_(vectors.to(device, torch::kFloat32));
  size.store(have + n);
}

torch::Tensor VectorIndexState::live() const {
  const int64_t n = size.load();
  return n == 0 ? torch::empty({0, dim}, torch::TensorOptions().dtype(torch::kFloat32).device(device)) : data.narrow(0, 0, n);
}

std::pair<torch::Tensor, torch::Tensor> VectorIndexState::search(const torch::Tensor& queries_in, int64_t k, int64_t chunk_rows) const {
  const int64_t n = size.load();
  if (n == 0) throw std::invalid_argument("search: the index is empty (add vectors first)");
  TORCH_CHECK(queries_in.dim() == 2 && queries_in.size(1) == dim, "queries must be [q, ", dim, "], got ", queries_in.sizes());
  auto queries = queries_in.to(device, torch::kFloat32);
  const int64_t Q = queries.size(0);
  const int64_t kk = std::min(k, n);
  if (chunk_rows <= 0) chunk_rows = std::max<int64_t>(4096, kScoreBlockFloats / std::max<int64_t>(Q, 1));
  chunk_rows = std::max(chunk_rows, kk);  // a block must be able to hold a full top-k
  torch::Tensor best_scores, best_ids;
  for (int64_t start = 0; start < n; start += chunk_rows) {
    const int64_t len = std::min(chunk_rows, n - start);
    auto scores = torch::matmul(queries, data.narrow(0, start, len).t());  // [Q, len]
    auto top = scores.topk(std::min(kk, len), /*dim=*/1, /*largest=*/true, /*sorted=*/true);
    auto s = std::get<0>(top);
    auto i = std::get<1>(top) + start;
    if (!best_scores.defined()) {
      best_scores = s;
      best_ids = i;
    } else {
      // Merge this block's top-k with the running one: the exact top-k of the union.
      auto cat_s = torch::cat({best_scores, s}, 1), cat_i = torch::cat({best_ids, i}, 1);
      auto merged = cat_s.topk(kk, 1, true, true);
      best_scores = std::get<0>(merged);
      best_ids = cat_i.gather(1, std::get<1>(merged));
    }
  }
  return {best_scores, best_ids};
}

std::shared_ptr<VectorIndexState> UnwrapVectorIndex(const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kVectorIndexTag)) throw Napi::TypeError::New(v.Env(), name + " must be a VectorIndex");
  return Napi::ObjectWrap<VectorIndexWrap>::Unwrap(v.As<Napi::Object>())->state(v.Env());
}

Napi::Value SearchResultToObject(Napi::Env env, const torch::Tensor& scores, const torch::Tensor& ids) {
  auto o = Napi::Object::New(env);
  o.Set("ids", TensorToTypedArray(env, ids.to(torch::kCPU, torch::kInt32).contiguous()));
  o.Set("scores", TensorToTypedArray(env, scores.to(torch::kCPU, torch::kFloat32).contiguous()));
  o.Set("k", static_cast<double>(scores.size(1)));
  return o;
}

Napi::Function VectorIndexWrap::Init(Napi::Env env) {
  return DefineClass(env, "VectorIndex",
                     {InstanceMethod<&VectorIndexWrap::Add>("add"), InstanceMethod<&VectorIndexWrap::Search>("search"),
                      InstanceMethod<&VectorIndexWrap::Vectors>("vectors"), InstanceMethod<&VectorIndexWrap::Save>("save"),
                      InstanceMethod<&VectorIndexWrap::Load>("load"), InstanceMethod<&VectorIndexWrap::Clear>("clear"),
                      InstanceMethod<&VectorIndexWrap::Dispose>("dispose"), InstanceAccessor<&VectorIndexWrap::GetSize>("size"),
                      InstanceAccessor<&VectorIndexWrap::GetDim>("dim"), InstanceAccessor<&VectorIndexWrap::GetDevice>("device"),
                      InstanceAccessor<&VectorIndexWrap::GetDisposed>("disposed")});
}

// new VectorIndex({ dim, device? = 'cpu' })
VectorIndexWrap::VectorIndexWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VectorIndexWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "new VectorIndex({ dim, device? }): options must be an object");
  auto o = info[0].As<Napi::Object>();
  state_ = std::make_shared<VectorIndexState>();
  state_->dim = IntegerArg(o.Get("dim"), "dim", 1, 1 << 16);
  try {
    state_->device = ParseDevice(StringOption(o, "device", "cpu"));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  info.This().As<Napi::Object>().TypeTag(&kVectorIndexTag);
}

std::shared_ptr<VectorIndexState> VectorIndexWrap::state(Napi::Env env) const {
  if (!state_) throw Napi::Error::New(env, "this VectorIndex was disposed");
  return state_;
}

// add(vectors: Float32Array) -> Promise<number>: appends [n, dim] row-major; resolves to the new size.
Napi::Value VectorIndexWrap::Add(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    auto v = FiniteFloat32ArrayArg(info.Length() ? info[0] : env.Undefined(), "vectors");
    if (v.size() % st->dim != 0)
      throw Napi::RangeError::New(env, "vectors has " + std::to_string(v.size()) + " elements, not a multiple of dim " + std::to_string(st->dim));
    const int64_t n = static_cast<int64_t>(v.size()) / st->dim;
    if (st->size.load() + n > (int64_t(1) << 31) - 1) throw Napi::RangeError::New(env, "a VectorIndex holds at most 2^31 - 1 vectors");
    auto after = std::make_shared<int64_t>(0);
    return PromiseWorker::Queue(
        env, Value(),
        [st, v = std::move(v), n, after] {
          std::lock_guard<std::mutex> lock(st->mu);
          st->add(torch::from_blob(const_cast<float*>(v.data()), {n, st->dim}, torch::kFloat32));
          *after = st->size.load();
        },
        [after](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*after)); });
  });
}

// search(queries: Float32Array, k, options?: { chunkRows }) -> Promise<{ ids, scores, k }>
Napi::Value VectorIndexWrap::Search(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    if (info.Length() < 2) throw Napi::TypeError::New(env, "search(queries, k, options?) needs 2 arguments");
    auto q = FiniteFloat32ArrayArg(info[0], "queries");
    if (q.empty() || q.size() % st->dim != 0)
      throw Napi::RangeError::New(env, "queries has " + std::to_string(q.size()) + " elements, expected a positive multiple of dim " + std::to_string(st->dim));
    const int64_t k = IntegerArg(info[1], "k", 1, 1 << 20);
    Napi::Object o = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
    const int64_t chunk = IntegerOption(o, "chunkRows", 0, 0, int64_t(1) << 31);
    const int64_t Q = static_cast<int64_t>(q.size()) / st->dim;
    auto out = std::make_shared<std::pair<torch::Tensor, torch::Tensor>>();
    return PromiseWorker::Queue(
        env, Value(),
        [st, q = std::move(q), Q, k, chunk, out] {
          std::lock_guard<std::mutex> lock(st->mu);
          torch::InferenceMode guard;
          *out = st->search(torch::from_blob(const_cast<float*>(q.data()), {Q, st->dim}, torch::kFloat32), k, chunk);
        },
        [out](Napi::Env env) { return SearchResultToObject(env, out->first, out->second); });
  });
}

// vectors(start? = 0, count? = size - start) -> Promise<Float32Array> (a copy)
Napi::Value VectorIndexWrap::Vectors(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    const int64_t n = st->size.load();
    const int64_t start = info.Length() > 0 && !info[0].IsUndefined() ? IntegerArg(info[0], "start", 0, n) : 0;
    const int64_t count = info.Length() > 1 && !info[1].IsUndefined() ? IntegerArg(info[1], "count", 0, n - start) : n - start;
    auto out = std::make_shared<torch::Tensor>();
    return PromiseWorker::Queue(
        env, Value(),
        [st, start, count, out] {
          std::lock_guard<std::mutex> lock(st->mu);
          *out = st->live().narrow(0, start, count).to(torch::kCPU).clone().reshape({-1});
        },
        [out](Napi::Env env) { return TensorToTypedArray(env, *out); });
  });
}

// save(path, metadata?: Record<string, string>) -> Promise<void>: one F32 tensor "vectors" [N, dim].
Napi::Value VectorIndexWrap::Save(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    const std::string path = StringArg(info.Length() ? info[0] : env.Undefined(), "path");
    std::map<std::string, std::string> meta;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Napi::TypeError::New(env, "metadata must be an object of strings");
      auto m = info[1].As<Napi::Object>();
      auto keys = m.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        auto key = keys.Get(i).As<Napi::String>().Utf8Value();
        meta[key] = StringArg(m.Get(key), "metadata." + key);
      }
    }
    meta["format"] = "pt";
    meta["content"] = "chatbert vector index";
    meta["dim"] = std::to_string(st->dim);
    return PromiseWorker::Queue(
        env, Value(),
        [st, path, meta] {
          std::lock_guard<std::mutex> lock(st->mu);
          write_tensors(path, {{kTensorName, st->live()}}, meta);
        },
        nullptr);
  });
}

// load(path) -> Promise<number>: replaces the contents with the file's "vectors" (dim must match).
Napi::Value VectorIndexWrap::Load(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto st = state(env);
    const std::string path = StringArg(info.Length() ? info[0] : env.Undefined(), "path");
    auto after = std::make_shared<int64_t>(0);
    return PromiseWorker::Queue(
        env, Value(),
        [st, path, after] {
          auto tensors = read_tensors(path);
          auto it = tensors.find(kTensorName);
          if (it == tensors.end()) throw std::runtime_error(path + ": no tensor named 'vectors' (not a ChatBERT vector index)");
          auto v = it->second;
          if (v.dim() != 2 || v.size(1) != st->dim)
            throw std::runtime_error(path + ": 'vectors' has shape " + c10::str(v.sizes()) + ", expected [N, " + std::to_string(st->dim) + "]");
          if (!v.is_floating_point()) throw std::runtime_error(path + ": 'vectors' must hold floats");
          if (v.numel() > 0 && !torch::isfinite(v).all().item<bool>()) throw std::runtime_error(path + ": 'vectors' holds NaN or infinite values");
          std::lock_guard<std::mutex> lock(st->mu);
          st->data = torch::Tensor();
          st->size.store(0);
          st->add(v.to(torch::kFloat32));
          *after = st->size.load();
        },
        [after](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*after)); });
  });
}

Napi::Value VectorIndexWrap::Clear(const Napi::CallbackInfo& info) {
  auto st = state(info.Env());
  std::lock_guard<std::mutex> lock(st->mu);
  st->data = torch::Tensor();
  st->size.store(0);
  return info.Env().Undefined();
}

Napi::Value VectorIndexWrap::Dispose(const Napi::CallbackInfo& info) {
  state_.reset();  // in-flight workers hold their own reference
  return info.Env().Undefined();
}

Napi::Value VectorIndexWrap::GetSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(state(info.Env())->size.load())); }
Napi::Value VectorIndexWrap::GetDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(state(info.Env())->dim)); }
Napi::Value VectorIndexWrap::GetDevice(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state(info.Env())->device.str()); }
Napi::Value VectorIndexWrap::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

}  // namespace chatbert::js
