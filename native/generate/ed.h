// ChatBERT-ED decoding: the encoder runs once, the cross-attention keys/values are computed once per
// reply, and the decoder adds one token per step with a key/value cache for its self-attention.
// Greedy, sampling (temperature, top-k, top-p) and beam search (length penalty, early stopping),
// with Hugging Face's logits processors: repetition penalty, no-repeat n-grams, minimum length.
//
// Lengths count reply tokens: the [BOS] fed first and the [EOS] that ends a reply are not part of
// the reply. min_length forbids [EOS] before that many reply tokens; max_length ends a reply that
// has not ended by itself.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <vector>

#include "generate/ed_options.h"
#include "generate/logits_processors.h"  // the logits processors, exposed for tests
#include "models/ed_decoder.h"

namespace chatbert {

struct EdSpecialIds {
  int64_t bos = 0, eos = 0, pad = 0;
  std::vector<int64_t> suppressed;  // never generated (e.g. [PAD], [CLS], [MASK], [UNK])
};

struct EdResult {
  torch::Tensor tokens;   // [B, max_length] int64 reply tokens, pad after the end
  torch::Tensor lengths;  // [B] int64
  torch::Tensor scores;   // [B] float: sum of the model's log-probabilities of reply + [EOS]
                          // (greedy, sampling), or the length-penalised beam score
  int64_t steps = 0;      // decoder steps run
};

// After every decoder step (greedy, sampling): the token each row produced ([EOS] included) and
// whether the row was still generating. Beam search reports its winners' tokens at the end.
using EdProgress = std::function<void(int64_t step, const std::vector<int64_t>& tokens, const std::vector<uint8_t>& active)>;

// input_ids [B, T] int64, attention_mask [B, T] (1 = attend), on the model's device.
EdResult ed_generate(EncoderDecoder& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask, const EdGenerateOptions& opt,
                     const EdSpecialIds& ids, const EdProgress& progress, const std::atomic<int32_t>* abort_flag);

}  // namespace chatbert
