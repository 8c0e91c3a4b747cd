// trainStepCheck(args): a test hook that runs the shared training step (train/step.h) on given
// parameters with given gradients, so that tests can compare it with a reference AdamW.
#pragma once
#include <napi.h>

namespace chatbert::js {

void InitTrainStepCheck(Napi::Env env, Napi::Object exports);

}  // namespace chatbert::js
