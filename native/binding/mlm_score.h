// mlmTokenLogProbs(model, request): log p(target | input) at chosen positions of a masked-LM
// forward pass, computed natively so that only one float per position crosses to JS (rather than
// a [positions, vocab] logit block). Evaluation uses it for ChatBERT-IMR's masked
// pseudo-perplexity and for scoring candidate replies (hits@1).
#pragma once
#include <napi.h>

namespace chatbert::js {
void InitMlmScore(Napi::Env env, Napi::Object exports);
}  // namespace chatbert::js
