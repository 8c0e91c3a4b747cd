// The unmasking step of ChatBERT-IMR (iterative MLM refinement).
//
// IMR generates a reply from an all-[MASK] response slot: each iteration runs the model over the
// slot, then this op commits the still-masked positions the model is most confident about.
//
// Inputs
//   logits   [B, L, V] float32 or bfloat16, CPU or CUDA (the response slot's logits); a
//            non-contiguous tensor is copied to a contiguous one first
//   tokens   [B, L] int64, contiguous, in/out: committed positions receive their predicted token
//   masked   [B, L] bool, contiguous, in/out: true = still [MASK]; committed ones become false
// Per position (every one, masked or not), with z = logit * (1/T) computed in float32 (1/T
// rounded to float once; bfloat16 logits are widened exactly first):
//   predicted  argmax_v z (kArgmax), or argmax_v z + g(seed, step, b*L*V + l*V + v) (kGumbel,
//              the Gumbel-max trick; g in ops/unmask_cuda.h); ties go to the lowest v.
//   confidence under p = softmax(z):
//              kMaxProb     p[predicted]
//              kMargin      top-1 minus top-2 probability (0 when the top two logits tie)
//              kNegEntropy  sum_v p log p  (= -entropy; terms with p = 0 count 0)
//   A +inf logit (or z overflowing to +inf) makes the distribution one-hot at the first +inf:
//   predicted = that token, max_prob = 1, margin = 1, neg_entropy = 0. -inf logits have p = 0.
//   A NaN logit is an error ("NaN in logits at row b position l", the lowest such position),
//   and so is a position whose V logits are all -inf ("all logits are -inf at row b position l");
//   NaN is reported before -inf.
// Selection, per row b, among the still-masked positions:
//   top-k mode      the min(k[b], #masked) most confident (k[b] may be 0);
//   threshold mode  every one with confidence >= (float)threshold, and at least the most
//                   confident one when the row has masked positions left.
//   Ties in confidence go to the lowest position.
// Outputs: UnmaskResult (below); tokens and masked are updated in place.
//
// Three implementations compute the same thing: unmask_naive (ATen ops, a loop over rows, the
// probabilities in float64: the reference), unmask_cpu (one fused pass over the logits per
// position; ops/unmask_cpu.cpp) and unmask_cuda (one kernel; ops/unmask_cuda.cu). `unmask`
// dispatches on the logits' device to the fused ones. All three agree exactly on predicted tokens
// (same float32 z, same noise bits) and on confidences to float32 rounding.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "ops/unmask_cuda.h"  // ATen-free: error codes, kUnmaskCudaMaxLength, the shared noise

namespace chatbert::ops {

enum class TokenChoice { kArgmax, kGumbel };
enum class ConfidenceMeasure { kMaxProb, kMargin, kNegEntropy };

struct UnmaskOptions {
  double temperature = 1.0;  // > 0; 1/temperature must be a normal float
  TokenChoice choice = TokenChoice::kArgmax;
  ConfidenceMeasure confidence = ConfidenceMeasure::kMaxProb;
  uint64_t seed = 0;  // Gumbel noise only
  uint64_t step = 0;
  // Exactly one of these: k, an int64 [B] tensor (any device; values >= 0), or a finite threshold.
  c10::optional<at::Tensor> k;
  c10::optional<double> threshold;
  // The batch row that this call's row 0 is: a caller that runs the op on a group of rows of a
  // larger batch (to keep the logits small) passes the group's first row, so that the Gumbel noise
  // of row b is the one the whole batch would draw there: g(seed, step, (first_row + b)*L*V + l*V + v).
  int64_t first_row = 0;
};

struct UnmaskResult {
  at::Tensor confidence;  // [B, L] float32, every position
  at::Tensor predicted;   // [B, L] int64, every position
  at::Tensor committed;   // [B] int64: positions committed per row
  // CUDA only (undefined on the CPU, which throws instead): an int64 [1] device flag, -1 when
  // the logits were fine, else the encoded error (UnmaskErrorCode in ops/unmask_cuda.h). When it
  // is set, rows holding a bad position were left unchanged but other rows may have been
  // committed, and the outputs of bad positions are meaningless. Read it with
  // check_unmask_status (which synchronises).
  at::Tensor status;
};

// Fused implementation for the logits' device.
UnmaskResult unmask(const at::Tensor& logits, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options);
// The reference: ATen ops, a loop over rows. Any device; synchronises (it checks with .item()).
UnmaskResult unmask_naive(const at::Tensor& logits, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options);
// Fused CPU implementation (ops/unmask_cpu.cpp).
UnmaskResult unmask_cpu(const at::Tensor& logits, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options);
#ifdef CHATBERT_WITH_CUDA
// Fused CUDA implementation (ops/unmask_cuda_glue.cpp -> ops/unmask_cuda.cu); asynchronous.
UnmaskResult unmask_cuda(const at::Tensor& logits, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options);
// Runs `prepare` (untimed) then `body` `iters` times on the current CUDA stream and returns each
// body's elapsed milliseconds, measured with CUDA events.
std::vector<double> time_cuda_ms(const std::function<void()>& prepare, const std::function<void()>& body, int iters);
#endif

// Throws the error a CUDA result's status flag holds (a no-op for CPU results); synchronises.
void check_unmask_status(const UnmaskResult& result, int64_t B, int64_t L);

// Shared by the implementations: shape/dtype/option checks (throws c10::Error), and 1/T as the
// float every implementation multiplies by.
void check_unmask_inputs(const at::Tensor& logits, const at::Tensor& tokens, const at::Tensor& masked, const UnmaskOptions& options);
float unmask_inverse_temperature(double temperature);
// The error messages, identical across implementations.
std::string unmask_error_message(int code, int64_t b, int64_t l);

}  // namespace chatbert::ops
