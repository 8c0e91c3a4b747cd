#include "binding/unmask_functions.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "binding/util.h"
#include "generate/imr_options.h"
#include "ops/unmask.h"

namespace chatbert::js {

namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991LL;  // Number.MAX_SAFE_INTEGER

Napi::Object ArgsObject(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": the argument must be an options object");
  return info[0].As<Napi::Object>();
}

// A string option restricted to `allowed` (RangeError otherwise).
std::string EnumOption(const Napi::Object& o, const char* key, const std::string& def, const std::vector<std::string>& allowed) {
  const std::string v = StringOption(o, key, def);
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i) list += (i ? (i + 1 == allowed.size() ? " or '" : ", '") : "'") + allowed[i] + "'";
  throw Napi::RangeError::New(o.Env(), std::string(key) + " must be " + list + ", got '" + v + "'");
}

torch::Device DeviceOption(const Napi::Object& o) {
  const std::string spec = StringOption(o, "device", "cpu");
  try {
    return ParseDevice(spec);
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(o.Env(), std::string("device: ") + e.what());
  }
}

std::string Num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

double TemperatureArg(const Napi::Object& o) {
  auto v = o.Get("temperature");
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), "temperature must be a number");
  const double t = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(t)) throw Napi::RangeError::New(o.Env(), "temperature must be finite, got " + Num(t));
  if (!(t > 0)) throw Napi::RangeError::New(o.Env(), "temperature must be > 0, got " + Num(t));
  if (t < 1e-30 || t > 1e30) throw Napi::RangeError::New(o.Env(), "temperature must be in [1e-30, 1e30], got " + Num(t));
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---------------------------------------------------------------------------------------------
// unmaskStep
// ---------------------------------------------------------------------------------------------
struct StepRequest {
  int64_t B = 0, L = 0, V = 0;
  bool bf16 = false;
  std::vector<float> f32;
  std::vector<uint16_t> bits;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> masked;
  std::vector<int32_t> k;
  bool has_k = false;
  double threshold = 0.0;
  ops::UnmaskOptions options;
  bool naive = false;
  torch::Device device = torch::kCPU;
};

struct StepResult {
  torch::Tensor tokens, masked, confidence, predicted, committed;
};

StepRequest ParseStep(const Napi::Object& o) {
  Napi::Env env = o.Env();
  StepRequest r;
  r.B = IntegerArg(o.Get("batch"), "batch", 1, 1 << 20);
  r.L = IntegerArg(o.Get("length"), "length", 1, 1 << 16);
  r.V = IntegerArg(o.Get("vocab"), "vocab", 1, (int64_t(1) << 31) - 1);
  const double total = static_cast<double>(r.B) * static_cast<double>(r.L) * static_cast<double>(r.V);
  if (total > static_cast<double>(int64_t(1) << 32))
    throw Napi::RangeError::New(env, "batch * length * vocab = " + Num(total) + " is too large for one typed array");
  const size_t n = static_cast<size_t>(r.B * r.L * r.V), bl = static_cast<size_t>(r.B * r.L);

  // logits: Float32Array (float32) or Uint16Array (bfloat16 bits); dtype, when given, must agree.
  auto lv = o.Get("logits");
  if (!lv.IsTypedArray()) throw Napi::TypeError::New(env, "logits must be a Float32Array (float32) or a Uint16Array (bfloat16 bits)");
  const auto ltype = lv.As<Napi::TypedArray>().TypedArrayType();
  if (ltype != napi_float32_array && ltype != napi_uint16_array)
    throw Napi::TypeError::New(env, "logits must be a Float32Array (float32) or a Uint16Array (bfloat16 bits)");
  const std::string dtype = EnumOption(o, "dtype", ltype == napi_uint16_array ? "bfloat16" : "float32", {"float32", "bfloat16"});
  r.bf16 = dtype == "bfloat16";
  if (r.bf16 != (ltype == napi_uint16_array))
    throw Napi::TypeError::New(env, "dtype '" + dtype + "' needs logits as a " + (r.bf16 ? "Uint16Array" : "Float32Array"));
  const size_t got = lv.As<Napi::TypedArray>().ElementLength();
  if (got != n)
    throw Napi::RangeError::New(env, "logits has " + std::to_string(got) + " elements, expected batch * length * vocab = " + std::to_string(n));
  if (r.bf16) {
    auto a = lv.As<Napi::Uint16Array>();
    r.bits.assign(a.Data(), a.Data() + n);
  } else {
    auto a = lv.As<Napi::Float32Array>();
    r.f32.assign(a.Data(), a.Data() + n);
  }

  r.tokens = Int32ArrayArg(o.Get("tokens"), "tokens");
  if (r.tokens.size() != bl)
    throw Napi::RangeError::New(env, "tokens has " + std::to_string(r.tokens.size()) + " elements, expected batch * length = " + std::to_string(bl));
  for (size_t i = 0; i < bl; ++i)
    if (r.tokens[i] < 0 || r.tokens[i] >= r.V)
      throw Napi::RangeError::New(env, "tokens[" + std::to_string(i) + "] = " + std::to_string(r.tokens[i]) + " is outside [0, vocab)");
  r.masked = MaskArg(o.Get("masked"), "masked", bl);

  r.options.temperature = TemperatureArg(o);

  auto kv = o.Get("k");
  auto tv = o.Get("threshold");
  if (kv.IsUndefined() == tv.IsUndefined())
    throw Napi::TypeError::New(env, "pass exactly one of k (an Int32Array, one count per row) and threshold (a number)");
  if (!kv.IsUndefined()) {
    r.has_k = true;
    r.k = Int32ArrayArg(kv, "k");
    if (static_cast<int64_t>(r.k.size()) != r.B)
      throw Napi::RangeError::New(env, "k has " + std::to_string(r.k.size()) + " elements, expected batch = " + std::to_string(r.B));
    for (size_t i = 0; i < r.k.size(); ++i)
      if (r.k[i] < 0) throw Napi::RangeError::New(env, "k[" + std::to_string(i) + "] = " + std::to_string(r.k[i]) + " must be >= 0");
  } else {
    if (!tv.IsNumber()) throw Napi::TypeError::New(env, "threshold must be a number");
    r.threshold = tv.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(r.threshold)) throw Napi::RangeError::New(env, "threshold must be finite");
    r.options.threshold = r.threshold;
  }

  const std::string choice = EnumOption(o, "choice", "argmax", {"argmax", "gumbel"});
  r.options.choice = choice == "gumbel" ? ops::TokenChoice::kGumbel : ops::TokenChoice::kArgmax;
  // Spelled as IMR's confidence option spells them (generate/imr_options.h).
  const std::string conf = EnumOption(o, "confidence", kConfidenceValues[0], {kConfidenceValues.begin(), kConfidenceValues.end()});
  r.options.confidence = static_cast<ops::ConfidenceMeasure>(enum_index(kConfidenceValues, conf));
  r.options.seed = static_cast<uint64_t>(IntegerOption(o, "seed", 0, 0, kMaxSafeInteger));
  r.options.step = static_cast<uint64_t>(IntegerOption(o, "step", 0, 0, kMaxSafeInteger));
  r.options.first_row = IntegerOption(o, "firstRow", 0, 0, 1 << 20);
  r.naive = EnumOption(o, "impl", "fused", {"naive", "fused"}) == "naive";
  r.device = DeviceOption(o);
  if (r.device.is_cuda() && r.L > ops::kUnmaskCudaMaxLength && !r.naive)
    throw Napi::RangeError::New(env, "length must be <= " + std::to_string(ops::kUnmaskCudaMaxLength) + " for the fused CUDA implementation");
  return r;
}

Napi::Value UnmaskStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    auto req = std::make_shared<StepRequest>(ParseStep(ArgsObject(info, "unmaskStep")));
    auto res = std::make_shared<StepResult>();
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [req, res] {
          c10::InferenceMode guard;
          const auto& r = *req;
          torch::Tensor logits =
              r.bf16 ? torch::from_blob(const_cast<uint16_t*>(r.bits.data()), {r.B, r.L, r.V}, torch::kInt16).view(torch::kBFloat16)
                     : torch::from_blob(const_cast<float*>(r.f32.data()), {r.B, r.L, r.V}, torch::kFloat32);
          logits = logits.to(r.device);
          auto tokens = torch::from_blob(const_cast<int32_t*>(r.tokens.data()), {r.B, r.L}, torch::kInt32).to(r.device, torch::kInt64);
          auto masked = torch::from_blob(const_cast<uint8_t*>(r.masked.data()), {r.B, r.L}, torch::kUInt8).to(r.device, torch::kBool);
          ops::UnmaskOptions opt = r.options;
          if (r.has_k) opt.k = torch::from_blob(const_cast<int32_t*>(r.k.data()), {r.B}, torch::kInt32).to(r.device, torch::kInt64);
          auto out = r.naive ? ops::unmask_naive(logits, tokens, masked, opt) : ops::unmask(logits, tokens, masked, opt);
          ops::check_unmask_status(out, r.B, r.L);
          res->tokens = tokens.to(torch::kCPU);
          res->masked = masked.to(torch::kCPU);
          res->confidence = out.confidence.to(torch::kCPU);
          res->predicted = out.predicted.to(torch::kCPU);
          res->committed = out.committed.to(torch::kCPU);
        },
        [res](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("tokens", TensorToTypedArray(env, res->tokens));
          o.Set("masked", TensorToTypedArray(env, res->masked));
          o.Set("confidence", TensorToTypedArray(env, res->confidence));
          o.Set("predicted", TensorToTypedArray(env, res->predicted));
          o.Set("committed", TensorToTypedArray(env, res->committed));
          return o;
        });
  });
}

// ---------------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------------

// Per-call milliseconds of `body` (after `warmup` untimed calls); `prepare` runs before each
// call, untimed.
std::vector<double> TimeCalls(torch::Device dev, int warmup, int iters, const std::function<void()>& prepare,
                              const std::function<void()>& body) {
  for (int i = 0; i < warmup; ++i) {
    prepare();
    body();
  }
#ifdef CHATBERT_WITH_CUDA
  if (dev.is_cuda()) {
    torch::cuda::synchronize();
    return ops::time_cuda_ms(prepare, body, iters);
  }
#endif
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    prepare();
    const auto t0 = std::chrono::steady_clock::now();
    body();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return ms;
}

Napi::Value BenchUnmask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    auto o = ArgsObject(info, "benchUnmask");
    const int64_t B = IntegerArg(o.Get("batch"), "batch", 1, 1 << 16);
    const int64_t L = IntegerArg(o.Get("length"), "length", 1, ops::kUnmaskCudaMaxLength);
    const int64_t V = IntegerArg(o.Get("vocab"), "vocab", 1, 1 << 24);
    const bool bf16 = EnumOption(o, "dtype", "float32", {"float32", "bfloat16"}) == "bfloat16";
    const torch::Device dev = DeviceOption(o);
    const bool naive = EnumOption(o, "impl", "fused", {"naive", "fused"}) == "naive";
    const int iters = static_cast<int>(IntegerOption(o, "iters", 10, 1, 100000));
    const int warmup = static_cast<int>(IntegerOption(o, "warmup", 2, 0, 100000));
    const int64_t k = IntegerOption(o, "k", std::max<int64_t>(1, L / 8), 0, L);
    const double bytes = static_cast<double>(B) * L * V * (bf16 ? 2 : 4);
    if (bytes > 16e9) throw Napi::RangeError::New(env, "batch * length * vocab is too large for a benchmark (over 16 GB of logits)");
    auto micro = std::make_shared<double>(0.0);
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [=] {
          c10::InferenceMode guard;
          auto gen = at::detail::createCPUGenerator(1234);
          auto logits = (at::randn({B, L, V}, gen, torch::TensorOptions().dtype(torch::kFloat32)) * 3.0)
                            .to(bf16 ? torch::kBFloat16 : torch::kFloat32)
                            .to(dev);
          auto tokens = torch::zeros({B, L}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
          auto masked = torch::ones({B, L}, torch::TensorOptions().dtype(torch::kBool).device(dev));
          ops::UnmaskOptions opt;
          opt.k = torch::full({B}, k, torch::TensorOptions().dtype(torch::kInt64).device(dev));
          auto ms = TimeCalls(
              dev, warmup, iters, [&] { masked.fill_(true); },
              [&] {
                auto out = naive ? ops::unmask_naive(logits, tokens, masked, opt) : ops::unmask(logits, tokens, masked, opt);
                (void)out;
              });
          *micro = Median(ms) * 1000.0;
        },
        [micro, bytes](Napi::Env env) -> Napi::Value {
          auto r = Napi::Object::New(env);
          r.Set("microseconds", *micro);
          r.Set("bytes", bytes);
          return r;
        });
  });
}

Napi::Value BenchCopyBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsyncGuard(env, [&]() -> Napi::Value {
    auto o = ArgsObject(info, "benchCopyBandwidth");
    const int64_t bytes = IntegerArg(o.Get("bytes"), "bytes", 1, int64_t(16) << 30);
    const torch::Device dev = DeviceOption(o);
    const int iters = static_cast<int>(IntegerOption(o, "iters", 10, 1, 100000));
    auto bps = std::make_shared<double>(0.0);
    return PromiseWorker::Queue(
        env, Napi::Object(),
        [=] {
          c10::InferenceMode guard;
          auto src = torch::ones({bytes}, torch::TensorOptions().dtype(torch::kUInt8).device(dev));
          auto dst = torch::empty_like(src);
          auto ms = TimeCalls(dev, 2, iters, [] {}, [&] { dst.copy_(src); });
          *bps = 2.0 * static_cast<double>(bytes) / (Median(ms) / 1000.0);
        },
        [bps](Napi::Env env) -> Napi::Value {
          auto r = Napi::Object::New(env);
          r.Set("bytesPerSecond", *bps);
          return r;
        });
  });
}

}  // namespace

void InitUnmaskFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("unmaskStep", Napi::Function::New(env, UnmaskStep, "unmaskStep"));
  exports.Set("benchUnmask", Napi::Function::New(env, BenchUnmask, "benchUnmask"));
  exports.Set("benchCopyBandwidth", Napi::Function::New(env, BenchCopyBandwidth, "benchCopyBandwidth"));
}

}  // namespace chatbert::js
