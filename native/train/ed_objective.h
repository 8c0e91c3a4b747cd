// The ChatBERT-ED training objective: teacher forcing. The decoder reads [BOS] reply and predicts
// reply [EOS]; the loss is token cross-entropy at the target positions only (the tied vocabulary
// projection runs just there), optionally label-smoothed. The unsmoothed cross-entropy is returned
// too: exp(ce_sum / tokens) is the true token-level perplexity.
#pragma once
#include <torch/torch.h>

#include "models/ed_decoder.h"

namespace chatbert {

struct EdBatch {
  torch::Tensor input_ids;          // [B, T] int64 encoder input ([CLS] context)
  torch::Tensor attention_mask;     // [B, T] uint8
  torch::Tensor decoder_input_ids;  // [B, S] int64 ([BOS] reply, padded)
  torch::Tensor positions;          // [P] int64: flattened indices into [B*S] that have a target
  torch::Tensor labels;             // [P] int64 targets at those positions (reply [EOS])
};

struct EdLoss {
  torch::Tensor loss_sum;  // sum over targets of the (smoothed) loss: what is optimised
  torch::Tensor ce_sum;    // sum of the plain cross-entropy: for perplexity
  torch::Tensor correct;   // targets whose argmax prediction is right
  torch::Tensor nll;       // [P] the cross-entropy of each target (per-row sums: candidate ranking)
  torch::Tensor encoder_hidden;  // [B, T, dim] the encoder's states (ed.bi_encoder pools the contexts' from them)
};

// `freeze_encoder`: the encoder runs without autograd (its parameters are not trained).
EdLoss ed_loss(EncoderDecoder& model, const EdBatch& batch, double label_smoothing, bool freeze_encoder);

}  // namespace chatbert
