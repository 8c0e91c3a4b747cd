// One optimizer step, shared by every trainer (MLM/IMR, ED, contrastive bi- and cross-encoder):
//   for each micro-batch: forward + backward of its (already normalised) loss, gradients accumulating
//   -> [reducer: sum the gradients across data-parallel ranks (losses carry the global normaliser)]
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

// Data-parallel hook (torch.distributed / c10d Gloo or NCCL, train/dist.h): null for one process.
// Each rank normalises its micro-batch losses by the step's GLOBAL count (masked tokens, target
// tokens, rows: global_counts below), so that SUMMING the gradients over the ranks gives exactly the
// gradient one process would compute on the whole batch.
class GradReducer {
 public:
  virtual ~GradReducer() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sum the gradients over the ranks, in place (between backward and clipping).
  virtual void all_reduce(std::vector<torch::Tensor>& grads) = 0;
  // Sum the step's statistics over the ranks, in place: [loss, stats...] (float64, on the device).
  virtual void all_reduce_stats(torch::Tensor& stats) = 0;
  // Sum host-side counts over the ranks (the step's normalisers), before the forward passes.
  virtual std::vector<double> sum(const std::vector<double>& values) = 0;
  // Every rank's rows of `local` ([n_r, ...], n_r may differ) in rank order, as one tensor whose
  // rows [offset, offset + n_local) are `local` itself (still differentiable) and the others are
  // copies without gradient. In-batch negatives across ranks (train/contrastive.cpp).
  virtual torch::Tensor all_gather_rows(const torch::Tensor& local, int64_t* offset) = 0;
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
  GradReducer* reducer() const { return options_.reducer.get(); }
  void set_reducer(std::shared_ptr<GradReducer> r) { options_.reducer = std::move(r); }
  // `counts` summed over the data-parallel ranks (unchanged in one process): a step's normalisers.
  std::vector<double> global_counts(const std::vector<double>& counts) const { return options_.reducer ? options_.reducer->sum(counts) : counts; }

 private:
  std::vector<AdamW*> optimizers_;
  StepOptions options_;
};

// Dropout's randomness for one step: the same for a step number (a resumed run repeats it), and
// different on each data-parallel rank (their rows are different rows).
inline void seed_step(int64_t seed, const TrainStep& step) {
  if (seed < 0) return;
  const uint64_t rank = step.reducer() ? static_cast<uint64_t>(step.reducer()->rank()) : 0;
  torch::manual_seed(static_cast<uint64_t>(seed) + rank * 0x9E3779B97F4A7C15ull);
}

}  // namespace chatbert
