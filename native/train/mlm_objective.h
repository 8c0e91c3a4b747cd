// The masked-LM training objective shared by ChatBERT-IMR training and evaluation: cross-entropy
// at the masked positions only (the vocabulary projection runs just there), per-position weights
// (e.g. 1/t), and an optional response-length classification loss on the [CLS] state.
#pragma once
#include <torch/torch.h>

#include "models/distilbert.h"

namespace chatbert {

struct MlmBatch {
  torch::Tensor input_ids;       // [B, T] int64
  torch::Tensor attention_mask;  // [B, T] uint8
  torch::Tensor positions;       // [P] int64, flattened into B*T
  torch::Tensor labels;          // [P] int64
  torch::Tensor weights;         // [P] float32, or undefined for 1
  torch::Tensor length_targets;  // [B] int64 with -1 = none, or undefined
};

struct MlmLoss {
  torch::Tensor weighted_sum;  // sum_p w_p * ce_p (scalar)
  torch::Tensor ce_sum;        // sum_p ce_p (unweighted, for reporting)
  torch::Tensor length_sum;    // sum over rows with a target of the length CE (or 0)
  torch::Tensor length_correct;
  int64_t length_rows = 0;
};

MlmLoss mlm_loss(DistilBertForMaskedLM& model, const MlmBatch& batch);

}  // namespace chatbert
