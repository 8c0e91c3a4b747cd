// One optimizer step, shared by every trainer (MLM/IMR, ED, contrastive bi- and cross-encoder):
//   for each micro-batch: forward + backward of its (already normalised) loss, gradients accumulating
//   -> [reducer: average the gradients across data-parallel ranks]
//   -> global grad norm (_foreach_norm) and clip coefficient, on the device
//   -> AdamW for every optimizer (fused kernel: clip and non-finite skip on the device; else foreach)
//   -> ONE read-back of the losses, statistics, norm -> gradients set to none.
// The trainers only say how to compute a micro-batch's loss and which statistics to sum.
#pragma once
#include <torch/torch.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "train/adamw.h"
#include "train/options.h"

namespace chatbert {

// Data-parallel hook (torch.distributed / c10d Gloo or NCCL): null for one process.
class GradReducer {
 public:
  virtual ~GradReducer() = default;
  // Average the gradients over the ranks, in place (between backward and clipping).
  virtual void all_reduce(std::vector<torch::Tensor>& grads) = 0;
  // Sum the step's statistics over the ranks, in place: [loss, stats...] (float64, on the device).
  virtual void all_reduce_stats(torch::Tensor& stats) = 0;
};

struct MicroBatchLoss {
  torch::Tensor loss;                // differentiable scalar, normalised for the whole step
  std::vector<torch::Tensor> stats;  // scalars summed over the micro-batches (sums, counts)
};

struct StepResult {
  double loss = 0;            // sum of the micro-batches' losses
  std::vector<double> stats;  // the stats' sums, in the order the micro-batches give them
  double grad_norm = 0;       // global 2-norm before clipping
  bool finite = true;         // false: non-finite loss or norm, the update was skipped
};

class TrainStep {
 public:
  TrainStep(std::vector<AdamW*> optimizers, StepOptions options) : optimizers_(std::move(optimizers)), options_(std::move(options)) {}

  // lrs: one per optimizer, in the constructor's order. Gradients are none afterwards, also when
  // micro_batch throws.
  StepResult run(size_t micro_batches, const std::function<MicroBatchLoss(size_t)>& micro_batch, const std::vector<double>& lrs);

  const StepOptions& options() const { return options_; }

 private:
  std::vector<AdamW*> optimizers_;
  StepOptions options_;
};

}  // namespace chatbert
