// The hook makes each micro-batch's loss sum_p (p * G_p).sum(), whose gradient is exactly G_p, so
// the whole TrainStep::run runs (accumulation, norm, clipping, non-finite skip, AdamW, zeroing)
// with gradients the test chose. Parameters named "distilbert.*" go to a first AdamW (lr:
// encoderLr), the others to a second (lr), as in EdTrainer. Runs on the JS thread: tensors are tiny.
#include "binding/train_step_check.h"

#include <map>

#include "binding/adamw_options.h"
#include "binding/util.h"
#include "train/step.h"

namespace chatbert::js {

namespace {

torch::Tensor Float32Tensor(const Napi::Value& v, const std::string& name, torch::Device dev) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(v.Env(), name + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  return torch::from_blob(a.Data(), {static_cast<int64_t>(a.ElementLength())}, torch::kFloat32).to(dev).clone();
}

// trainStepCheck({ params: { name: Float32Array }, steps: [{ lr, encoderLr?, microBatches: [{ name:
//   Float32Array (its gradient) }] }], options?: trainer options, device?, impl?: 'auto' | 'foreach' })
//   -> Promise<{ params: { name: Float32Array }, steps: [{ loss, gradNorm, finite }], optimizerSteps: [enc, dec] }>
Napi::Value TrainStepCheck(const Napi::CallbackInfo& info) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "trainStepCheck(args): args must be an object");
    auto o = info[0].As<Napi::Object>();
    const auto dev = ParseDevice(StringOption(o, "device", "cpu"));
    auto options = o.Get("options");
    auto opt = ParseOptimizerOptions(options.IsObject() ? options.As<Napi::Object>() : Napi::Object::New(env));
    const std::string impl = StringOption(o, "impl", "auto");
    if (impl != "auto" && impl != "foreach") throw Napi::RangeError::New(env, "impl must be 'auto' or 'foreach'");
    opt.step.allow_fused = impl == "auto";

    if (!o.Get("params").IsObject()) throw Napi::TypeError::New(env, "params must be an object of Float32Arrays");
    auto po = o.Get("params").As<Napi::Object>();
    std::map<std::string, torch::Tensor> params;
    std::vector<std::pair<std::string, torch::Tensor>> enc, dec;
    auto names = po.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).As<Napi::String>();
      auto p = Float32Tensor(po.Get(name), "params." + name, dev).set_requires_grad(true);
      params[name] = p;
      (name.rfind("distilbert.", 0) == 0 ? enc : dec).emplace_back(name, p);
    }
    AdamW enc_opt(enc, opt.adamw), dec_opt(dec, opt.adamw);
    TrainStep step({&enc_opt, &dec_opt}, opt.step);

    if (!o.Get("steps").IsArray()) throw Napi::TypeError::New(env, "steps must be an array");
    auto steps = o.Get("steps").As<Napi::Array>();
    auto results = Napi::Array::New(env, steps.Length());
    for (uint32_t s = 0; s < steps.Length(); ++s) {
      auto so = steps.Get(s).As<Napi::Object>();
      const double lr = NumberArg(so.Get("lr"), "lr", 0, 10);
      const double encoder_lr = NumberOption(so, "encoderLr", lr, 0, 10);
      auto mbs = so.Get("microBatches").As<Napi::Array>();
      std::vector<std::vector<std::pair<torch::Tensor, torch::Tensor>>> grads(mbs.Length());
      for (uint32_t m = 0; m < mbs.Length(); ++m) {
        auto go = mbs.Get(m).As<Napi::Object>();
        auto gnames = go.GetPropertyNames();
        for (uint32_t i = 0; i < gnames.Length(); ++i) {
          const std::string name = gnames.Get(i).As<Napi::String>();
          auto it = params.find(name);
          if (it == params.end()) throw Napi::RangeError::New(env, "gradient for unknown parameter '" + name + "'");
          grads[m].emplace_back(it->second, Float32Tensor(go.Get(name), "grad " + name, dev));
        }
      }
      auto r = step.run(
          grads.size(),
          [&](size_t m) {
            auto loss = torch::zeros({}, torch::TensorOptions().device(dev));
            for (const auto& [p, g] : grads[m]) loss = loss + (p * g).sum();
            return MicroBatchLoss{loss, {}};
          },
          {encoder_lr, lr});
      auto ro = Napi::Object::New(env);
      ro.Set("loss", r.loss);
      ro.Set("gradNorm", r.grad_norm);
      ro.Set("finite", r.finite);
      results.Set(s, ro);
    }
    auto out = Napi::Object::New(env);
    auto pout = Napi::Object::New(env);
    for (const auto& [name, p] : params) pout.Set(name, TensorToTypedArray(env, p.detach().cpu().contiguous()));
    out.Set("params", pout);
    out.Set("steps", results);
    auto counts = Napi::Array::New(env, 2);
    counts.Set(0u, static_cast<double>(enc_opt.steps()));
    counts.Set(1u, static_cast<double>(dec_opt.steps()));
    out.Set("optimizerSteps", counts);
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(out);
    return d.Promise();
  });
}

}  // namespace

void InitTrainStepCheck(Napi::Env env, Napi::Object exports) { exports.Set("trainStepCheck", Napi::Function::New(env, TrainStepCheck, "trainStepCheck")); }

}  // namespace chatbert::js
