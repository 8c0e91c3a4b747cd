#include "train/contrastive.h"

#include <limits>

namespace chatbert {

ContrastiveLoss in_batch_loss_from_scores(const torch::Tensor& scores_in, const torch::Tensor& keys, bool per_row) {
  TORCH_CHECK(scores_in.dim() == 2 && scores_in.size(0) == scores_in.size(1), "in-batch scores must be square [B, B], got ", scores_in.sizes());
  const int64_t B = scores_in.size(0);
  auto scores = scores_in.to(torch::kFloat32);
  auto target = torch::arange(B, scores.options().dtype(torch::kLong));
  if (keys.defined()) {
    TORCH_CHECK(keys.dim() == 1 && keys.size(0) == B, "keys must be [B]");
    auto k = keys.to(scores.device(), torch::kLong);
    // Same reply text, other row: a false negative, not an alternative to push away.
    auto dup = k.unsqueeze(1).eq(k.unsqueeze(0)) & torch::eye(B, scores.options().dtype(torch::kBool)).logical_not();
    scores = scores.masked_fill(dup, -std::numeric_limits<float>::infinity());
  }
  ContrastiveLoss out;
  if (per_row) {
    out.row_loss = torch::nn::functional::cross_entropy(scores, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    out.loss_sum = out.row_loss.sum();
    out.row_loss = out.row_loss.detach();
    out.row_correct = scores.detach().argmax(1).eq(target);
    out.correct = out.row_correct.sum();
  } else {
    out.loss_sum = torch::nn::functional::cross_entropy(scores, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    out.correct = scores.detach().argmax(1).eq(target).sum();
  }
  out.rows = B;
  return out;
}

ContrastiveLoss in_batch_loss(DistilBertForMaskedLM& model, const ContrastiveBatch& b, Pooling pooling, GradReducer* group) {
  return in_batch_loss([&](const torch::Tensor& ids, const torch::Tensor& mask) { return encode_pooled(model, ids, mask, pooling); }, b, group);
}

ContrastiveLoss in_batch_loss(const PooledEncode& encode, const ContrastiveBatch& b, GradReducer* group) {
  return in_batch_loss(encode(b.context_ids, b.context_mask), encode(b.candidate_ids, b.candidate_mask), b.keys, group);
}

ContrastiveLoss in_batch_loss(const torch::Tensor& ctx, const torch::Tensor& cand, const torch::Tensor& keys, GradReducer* group) {
  if (!group || group->world_size() == 1) return in_batch_loss_from_scores(torch::matmul(ctx, cand.t()), keys);
  // Context and reply vectors travel together: one all-gather for both.
  int64_t offset = 0;
  auto both = group->all_gather_rows(torch::cat({ctx, cand}, 1), &offset);  // [N, 2D]
  auto all_ctx = both.narrow(1, 0, ctx.size(1));
  auto all_cand = both.narrow(1, ctx.size(1), cand.size(1));
  torch::Tensor all_keys;
  if (keys.defined()) all_keys = group->all_gather_rows(keys, nullptr);
  auto whole = in_batch_loss_from_scores(torch::matmul(all_ctx, all_cand.t()), all_keys, /*per_row=*/true);
  const int64_t B = ctx.size(0);
  ContrastiveLoss out;
  out.grad_loss = whole.loss_sum;
  out.loss_sum = whole.row_loss.narrow(0, offset, B).sum().detach();
  out.correct = whole.row_correct.narrow(0, offset, B).sum();
  out.rows = B;
  return out;
}

ContrastiveLoss group_loss_from_scores(const torch::Tensor& scores_in) {
  TORCH_CHECK(scores_in.dim() == 2 && scores_in.size(1) >= 2, "group scores must be [B, G] with G >= 2, got ", scores_in.sizes());
  auto scores = scores_in.to(torch::kFloat32);
  auto target = torch::zeros({scores.size(0)}, scores.options().dtype(torch::kLong));
  ContrastiveLoss out;
  out.loss_sum = torch::nn::functional::cross_entropy(scores, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  out.correct = scores.detach().argmax(1).eq(0).sum();
  out.rows = scores.size(0);
  return out;
}

ContrastiveLoss cross_encoder_loss(DistilBertForMaskedLM& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t group) {
  TORCH_CHECK(group >= 2 && input_ids.size(0) % group == 0, "cross-encoder rows (", input_ids.size(0), ") must be a multiple of the group size (", group, " >= 2)");
  auto s = model->scores(model->hidden_states(input_ids, attention_mask));
  return group_loss_from_scores(s.view({-1, group}));
}

}  // namespace chatbert
