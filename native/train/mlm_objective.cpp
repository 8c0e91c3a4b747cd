#include "train/mlm_objective.h"

namespace chatbert {

MlmLoss mlm_loss(DistilBertForMaskedLM& model, const MlmBatch& b) {
  const int64_t B = b.input_ids.size(0), T = b.input_ids.size(1);
  auto hidden = model->hidden_states(b.input_ids, b.attention_mask);  // [B, T, dim]
  auto selected = hidden.reshape({B * T, -1}).index_select(0, b.positions);
  auto src = model->copy_source(hidden, b.input_ids, b.attention_mask);
  // Cross-entropy in float32 even under bf16 autocast: the log-sum-exp over 30k logits needs it.
  // (With a copy head these are log-probabilities, which cross-entropy reads alike.)
  auto logits = model->mlm_logits(selected, &src, b.positions).to(torch::kFloat32);
  auto ce = torch::nn::functional::cross_entropy(logits, b.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  MlmLoss out;
  out.ce_sum = ce.sum();
  out.weighted_sum = b.weights.defined() ? (ce * b.weights).sum() : out.ce_sum;
  out.length_sum = torch::zeros({}, logits.options());
  out.length_correct = torch::zeros({}, logits.options().dtype(torch::kInt64));
  if (model->length_head && b.length_targets.defined()) {
    auto rows = b.length_targets.ge(0).nonzero().squeeze(1);
    out.length_rows = rows.numel();
    if (out.length_rows > 0) {
      auto cls = hidden.select(1, 0).index_select(0, rows);
      auto len_logits = model->length_head->forward(cls).to(torch::kFloat32);
      auto targets = b.length_targets.index_select(0, rows);
      out.length_sum = torch::nn::functional::cross_entropy(len_logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      out.length_correct = len_logits.argmax(-1).eq(targets).sum();
    }
  }
  return out;
}

}  // namespace chatbert
