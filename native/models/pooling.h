// Sentence vectors from DistilBERT hidden states, for ChatBERT-RA's bi-encoder: one pooled vector
// per sequence, compared by dot product. The same function serves training (contrastive.cpp),
// encoding a candidate pool and encoding queries, so all three see identical vectors.
#pragma once
#include <torch/torch.h>

#include <string>

#include "models/distilbert.h"

namespace chatbert {

enum class Pooling {
  kCls,   // the hidden state of position 0 ([CLS])
  kMean,  // the mean over attended positions (padding excluded)
};

// "cls" or "mean"; throws std::invalid_argument naming the value otherwise.
Pooling parse_pooling(const std::string& name);
const char* pooling_name(Pooling p);

// hidden [B, T, D] (any float dtype), mask [B, T] (1 = real token, or undefined for all ones)
// -> [B, D] float32.
torch::Tensor pool_hidden(const torch::Tensor& hidden, const torch::Tensor& mask, Pooling pooling);

// The encoder's pooled output for input_ids [B, T] int64 and mask [B, T] uint8, on the model's
// device. Gradients flow when the caller allows them (training); inference callers hold an
// InferenceMode guard.
torch::Tensor encode_pooled(DistilBertForMaskedLM& model, const torch::Tensor& input_ids, const torch::Tensor& mask, Pooling pooling);

}  // namespace chatbert
