// Per-addon-instance data (constructors), so the addon is safe to load in worker threads.
#pragma once
#include <napi.h>

namespace chatbert::js {

struct AddonData {
  Napi::FunctionReference distilbert_model;
  Napi::FunctionReference process_group;
};

inline AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace chatbert::js
