// Data-parallel training on PyTorch's own distributed engine (c10d), from C++:
//   rendezvous  TCPStore on MASTER_ADDR:MASTER_PORT (rank 0 hosts it), as torchrun's env:// does
//   backend     ProcessGroupGloo (CPU; CUDA tensors go through the host) or ProcessGroupNCCL (CUDA)
//   start       every parameter and buffer broadcast from rank 0
//   each step   the step's normalisers summed (a few doubles), backward, the gradients summed in
//               flat buckets (all buckets launched, then waited: Gloo pipelines them on its own
//               threads), the step's statistics summed
//   liveness    a heartbeat thread per rank bumps a counter in the store; a failed or timed-out
//               collective is reported with the ranks whose heartbeat stopped (the lost ones)
// The c10d headers stay in dist.cpp: this header is all the trainers and the binding include.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "train/step.h"

namespace chatbert::dist {

struct GroupOptions {
  std::string backend = "gloo";  // "gloo" | "nccl"
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // the CUDA device of an NCCL rank
  // Rendezvous and every collective fail after this long; a rank whose heartbeat stopped this long
  // is named as lost.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  int64_t bucket_bytes = 25 << 20;  // DDP's default bucket size
};

struct CommStats {
  double seconds = 0;  // wall time inside gradient/statistics collectives
  double bytes = 0;    // gradient bytes all-reduced (per rank)
  int64_t calls = 0;   // collectives launched
};

// Which backends this build has (compile-time: Gloo needs gloo's headers, NCCL a CUDA Torch with NCCL).
std::vector<std::string> available_backends();

class Group final : public GradReducer {
 public:
  // Joins the group: blocks until every rank has connected (or throws after options.timeout).
  explicit Group(const GroupOptions& options);
  ~Group() override;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const override;
  int world_size() const override;
  const GroupOptions& options() const;
  torch::Device device() const;  // where collectives run: cuda:local_rank for NCCL, else CPU

  void all_reduce(std::vector<torch::Tensor>& grads) override;
  void all_reduce_stats(torch::Tensor& stats) override;
  std::vector<double> sum(const std::vector<double>& values) override;
  torch::Tensor all_gather_rows(const torch::Tensor& local, int64_t* offset) override;

  // Host values reduced over the ranks: op "sum" | "max" | "min".
  std::vector<double> all_reduce_host(const std::vector<double>& values, const std::string& op);
  // Overwrite `tensors` (parameters, buffers) with rank 0's, in place.
  void broadcast_from_rank0(const std::vector<torch::Tensor>& tensors);
  void barrier();
  // Store-side synchronisation that does not time out while the owner is alive: `owner` calls
  // signal(tag); the others wait(tag, owner) and fail only when the owner's heartbeat stops
  // (rank 0 evaluating and checkpointing while the others wait, for as long as that takes).
  void signal(const std::string& tag);
  void wait(const std::string& tag, int owner);

  CommStats stats() const;
  void reset_stats();
  // Leaves the group: stops the heartbeat; collectives afterwards throw.
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace chatbert::dist
