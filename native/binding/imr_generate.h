#pragma once
#include <napi.h>

namespace chatbert::js {
// Registers imrGenerate(model, request) on the addon's exports.
void InitImrGenerate(Napi::Env env, Napi::Object exports);
}  // namespace chatbert::js
