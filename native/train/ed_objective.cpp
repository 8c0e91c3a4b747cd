#include "train/ed_objective.h"

namespace chatbert {

EdLoss ed_loss(EncoderDecoder& model, const EdBatch& b, double label_smoothing, bool freeze_encoder) {
  torch::Tensor encoder_hidden;
  if (freeze_encoder) {
    torch::NoGradGuard no_grad;
    encoder_hidden = model->encode(b.input_ids, b.attention_mask);
  } else {
    encoder_hidden = model->encode(b.input_ids, b.attention_mask);
  }
  const int64_t B = b.decoder_input_ids.size(0), S = b.decoder_input_ids.size(1);
  auto hidden = model->decoder->forward(b.decoder_input_ids, encoder_hidden, b.attention_mask);
  auto selected = hidden.reshape({B * S, -1}).index_select(0, b.positions);
  // Float32 log-softmax even under bf16 autocast: the log-sum-exp over 30k logits needs it.
  auto logp = torch::log_softmax(model->decoder->logits(selected).to(torch::kFloat32), -1);
  auto nll = -logp.gather(1, b.labels.unsqueeze(1)).squeeze(1);
  EdLoss out;
  out.ce_sum = nll.sum();
  // Label smoothing as torch's cross_entropy defines it: (1 - eps) * nll + eps * mean_v(-log p_v).
  out.loss_sum = label_smoothing > 0 ? ((1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)).sum() : out.ce_sum;
  out.correct = logp.argmax(-1).eq(b.labels).sum();
  out.nll = nll;
  out.encoder_hidden = encoder_hidden;
  return out;
}

}  // namespace chatbert
