// ChatBERT-RA's training objective: a bi-encoder (one shared DistilBERT encodes contexts and
// candidates) scored by dot product, trained with in-batch negatives: row i's context must pick
// its own reply among the B replies of the batch (cross-entropy over the batch's candidates).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "models/distilbert.h"
#include "models/pooling.h"
#include "train/step.h"

namespace chatbert {

struct ContrastiveBatch {
  torch::Tensor context_ids;     // [B, Tc] int64
  torch::Tensor context_mask;    // [B, Tc] uint8
  torch::Tensor candidate_ids;   // [B, Tr] int64 (row i = the reply to context i)
  torch::Tensor candidate_mask;  // [B, Tr] uint8
  // [B] int64 or undefined: rows with the same key have the same reply text. A copy of row i's
  // reply elsewhere in the batch is not a negative (corpora repeat short replies such as
  // "hi !"), so those columns are masked out of row i's softmax.
  torch::Tensor keys;
};

struct ContrastiveLoss {
  torch::Tensor loss_sum;  // sum over rows of the cross-entropy (scalar, differentiable)
  torch::Tensor correct;   // rows whose own reply scored highest (int64 scalar)
  int64_t rows = 0;
  // Data-parallel only: the differentiable loss over the whole group's score matrix (see
  // in_batch_loss); loss_sum and correct then count this rank's rows, for the logs.
  torch::Tensor grad_loss;
  torch::Tensor row_loss, row_correct;  // in_batch_loss_from_scores(per_row = true)
};

// scores [B, B] = context vectors . candidate vectors^T; keys as in ContrastiveBatch.
// per_row: also row_loss / row_correct ([B], without gradient).
ContrastiveLoss in_batch_loss_from_scores(const torch::Tensor& scores, const torch::Tensor& keys, bool per_row = false);

// With a data-parallel `group`, the negatives are the whole group's: every rank's context and reply
// vectors are gathered, this rank's own rows kept differentiable, and grad_loss is the loss of the
// whole [N, N] matrix; summing the ranks' gradients then gives one process's gradient on all N rows.
ContrastiveLoss in_batch_loss(DistilBertForMaskedLM& model, const ContrastiveBatch& batch, Pooling pooling, GradReducer* group = nullptr);
// The same loss over any encoder: `encode`(ids, mask) -> pooled vectors [B, D] (ChatBERT-ED's
// bi-encoder pools its encoder's states).
using PooledEncode = std::function<torch::Tensor(const torch::Tensor& ids, const torch::Tensor& mask)>;
ContrastiveLoss in_batch_loss(const PooledEncode& encode, const ContrastiveBatch& batch, GradReducer* group = nullptr);
// The same loss from vectors already pooled: contexts [B, D], their replies [B, D], keys as above.
ContrastiveLoss in_batch_loss(const torch::Tensor& context_vectors, const torch::Tensor& reply_vectors, const torch::Tensor& keys, GradReducer* group = nullptr);

// The cross-encoder (re-ranker) objective: rows come in groups of `group` (a context joined with
// its own reply first, then with G-1 other replies); each row is scored by the score head and the
// loss is the cross-entropy of picking the first row of each group. scores [B, G].
ContrastiveLoss group_loss_from_scores(const torch::Tensor& scores);
ContrastiveLoss cross_encoder_loss(DistilBertForMaskedLM& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t group);

}  // namespace chatbert
