// Hugging Face's logits processors, shared by the ED and IMR decoders (defined in generate/ed.cpp).
// logits [N, V] float are changed in place.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace chatbert {

// CTRL's repetition penalty as Hugging Face applies it: a previously generated token's logit is
// divided by the penalty when positive and multiplied by it when negative (both lower it when
// penalty > 1). previous: [N, t] token ids (t may be 0).
void apply_repetition_penalty(torch::Tensor& logits, const torch::Tensor& previous, double penalty);
// Bans, per row, every token that would repeat an n-gram already in that row's history.
void apply_no_repeat_ngram(torch::Tensor& logits, const std::vector<std::vector<int64_t>>& histories, int64_t n);

}  // namespace chatbert
