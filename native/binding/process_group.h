// JS class ProcessGroup: one rank's membership of a data-parallel group (train/dist.h), made by
// ProcessGroup.connect(options) off the JS thread (the rendezvous waits for every rank). Trainers
// take it through joinGroup(group); the training loop uses it for its own few collectives (stop
// flags, the wait while rank 0 evaluates).
#pragma once
#include <napi.h>

#include <memory>

#include "train/dist.h"

namespace chatbert::js {

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ProcessGroupWrap(const Napi::CallbackInfo& info);
  // The group, or a JS Error when closed.
  std::shared_ptr<dist::Group> group(Napi::Env env) const;
  // `v` must be a ProcessGroup: its group.
  static std::shared_ptr<dist::Group> FromValue(const Napi::Value& v, const std::string& name);

 private:
  static Napi::Value Connect(const Napi::CallbackInfo& info);
  static Napi::Value Backends(const Napi::CallbackInfo& info);
  Napi::Value AllReduce(const Napi::CallbackInfo& info);
  Napi::Value Barrier(const Napi::CallbackInfo& info);
  Napi::Value Signal(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value ResetStats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetRank(const Napi::CallbackInfo& info);
  Napi::Value GetWorldSize(const Napi::CallbackInfo& info);
  Napi::Value GetBackend(const Napi::CallbackInfo& info);

  std::shared_ptr<dist::Group> group_;
};

// trainer.joinGroup(group) for any trainer Impl with `model` (holding `mu` and a module in
// `model->model`) and `step`: the model's parameters and buffers are overwritten with rank 0's, and
// the step's gradients are summed over the group from then on.
template <typename Impl>
Napi::Value JoinGroupAsync(const Napi::CallbackInfo& info, Napi::Object self, std::shared_ptr<Impl> impl);

}  // namespace chatbert::js

#include "binding/util.h"

namespace chatbert::js {

template <typename Impl>
Napi::Value JoinGroupAsync(const Napi::CallbackInfo& info, Napi::Object self, std::shared_ptr<Impl> impl) {
  return AsyncGuard(info.Env(), [&]() -> Napi::Value {
    auto group = ProcessGroupWrap::FromValue(info.Length() ? info[0] : info.Env().Undefined(), "group");
    return PromiseWorker::Queue(
        info.Env(), self,
        [impl, group] {
          std::lock_guard<std::mutex> lock(impl->model->mu);
          auto& module = *impl->model->model;
          std::vector<torch::Tensor> tensors;
          for (const auto& p : module.parameters(true)) tensors.push_back(p);
          for (const auto& b : module.buffers(true)) tensors.push_back(b);
          group->broadcast_from_rank0(tensors);
          impl->step->set_reducer(group);
        },
        nullptr);
  });
}

}  // namespace chatbert::js
