// ChatBERT-IMR decoding: the reply starts as an all-[MASK] slot; each iteration runs the model over
// context and slot and commits the still-masked positions it is most confident about (the unmasking
// op), with the temperature annealed from initial to final. Batched; reports every iteration.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "generate/imr_options.h"
#include "models/distilbert.h"
#include "ops/unmask.h"

namespace chatbert {

struct ImrSpecialIds {
  int64_t pad, unk, cls, sep, mask;
};

// Vocabulary entries as whole-word decoding sees them.
constexpr uint8_t kPieceWordStart = 0;     // begins a word and may be continued (letters, digits)
constexpr uint8_t kPieceContinuation = 1;  // ##x: continues the word on its left (and may be continued)
constexpr uint8_t kPieceOther = 2;         // punctuation, specials: never continued

struct ImrRequest {
  torch::Tensor input_ids;       // [B, T] int64, slot positions hold [MASK]
  torch::Tensor attention_mask;  // [B, T] uint8
  torch::Tensor slot_start;      // [B] int64
  int64_t slot_length = 0;
  bool has_length_head = false;
  bool end_token_model = true;   // trained with end-token padding (else: length head, positions after the reply are [MASK])
  // Optional: slot tokens given by the caller ([B, L] int64, -1 = to decode), e.g. the fixed words
  // of a fill-in-the-blank template; they are committed from the start and never re-masked.
  torch::Tensor fixed_tokens;
  // Optional: the reply length of each row ([B] int64), which then overrides length_mode.
  torch::Tensor lengths;
  // Each vocabulary entry's kind ([V] uint8, kPiece* below); needed by the wholeWords option.
  torch::Tensor piece_kinds;
};

struct ImrResult {
  torch::Tensor tokens;     // [B, L] int64 slot tokens
  torch::Tensor lengths;    // [B] int64 reply lengths
  torch::Tensor committed;  // [iterations, B] int64 positions committed at each iteration
  torch::Tensor confidence; // [B, L] float32: each token's confidence when it was committed (1 for given tokens)
  int64_t iterations = 0;
  bool cuda_graph = false;  // replayed from a CUDA graph
};

// What the decoding loop leaves on the device: tokens, lengths, committed [iterations, B],
// confidence, and the unmasking op's error flags not yet read (CUDA: [iterations, 1] int64,
// -1 = fine; undefined on the CPU, whose op throws at once).
struct ImrDecodeOutput {
  torch::Tensor tokens, lengths, committed, confidence;
  int64_t iterations = 0;
  torch::Tensor status;
};

// Called after every iteration with the slot tokens [B, L] and the still-masked flags [B, L].
using ImrProgress = std::function<void(int64_t iteration, const torch::Tensor& tokens, const torch::Tensor& masked)>;

ImrResult imr_generate(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                       const ImrProgress& progress, const std::atomic<int32_t>* abort_flag);

// The loop alone. On CUDA, without a progress callback and with a schedule other than threshold,
// it neither reads from nor copies to the host once the request's tensors are on the device, so a
// CUDA graph can capture it whole.
ImrDecodeOutput imr_decode(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                           const ImrProgress& progress, const std::atomic<int32_t>* abort_flag);

// Reads the error flags once (throws on NaN logits) and copies the outputs to the host.
ImrResult imr_finish(const ImrDecodeOutput& out);

double annealed_temperature(const ImrOptions& o, int64_t i, int64_t n);

}  // namespace chatbert
