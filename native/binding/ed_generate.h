#pragma once
#include <napi.h>

namespace chatbert::js {
// Registers edGenerate(model, request) on the addon's exports.
void InitEdGenerate(Napi::Env env, Napi::Object exports);
}  // namespace chatbert::js
