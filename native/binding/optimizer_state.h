// saveState(path) / loadState(path), shared by the trainer classes: the AdamW moments and step
// counts of a trainer's optimizers in one safetensors file (parameter names keep several apart),
// written and read off the JS thread under the model's lock. `impl` is any trainer state with a
// `model` holding `mu` and an `optimizers()` listing its AdamW instances in file order; the
// worker holds it, so the trainer's JS object may be collected meanwhile.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/util.h"
#include "train/adamw.h"

namespace chatbert::js {

template <typename Impl>
Napi::Value SaveOptimizerStateAsync(const Napi::CallbackInfo& info, Napi::Object self, std::shared_ptr<Impl> impl, std::string content) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    const std::string path = StringArg(info.Length() ? info[0] : info.Env().Undefined(), "path");
    return PromiseWorker::Queue(
        info.Env(), self,
        [impl, path, content] {
          std::lock_guard<std::mutex> lock(impl->model->mu);
          const auto opts = impl->optimizers();
          save_optimizer_state(path, std::vector<const AdamW*>(opts.begin(), opts.end()), content);
        },
        nullptr);
  });
}

template <typename Impl>
Napi::Value LoadOptimizerStateAsync(const Napi::CallbackInfo& info, Napi::Object self, std::shared_ptr<Impl> impl) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    const std::string path = StringArg(info.Length() ? info[0] : info.Env().Undefined(), "path");
    return PromiseWorker::Queue(
        info.Env(), self,
        [impl, path] {
          std::lock_guard<std::mutex> lock(impl->model->mu);
          load_optimizer_state(path, impl->optimizers());
        },
        nullptr);
  });
}

}  // namespace chatbert::js
