// Everything that differs between the LibTorch versions ChatBERT builds against (1.13 from Debian,
// 2.x from PyTorch wheels) lives here, so that model and op code is written once.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#include <string>

namespace chatbert::compat {

constexpr bool kHasSdpa = TORCH_VERSION_MAJOR >= 2;

// Attention over [B, H, T, D] tensors. `keep` is a boolean mask broadcastable to [B, H, T, S] with
// true = attend. LibTorch 2.x has a fused kernel (flash / memory-efficient); 1.13 gets the plain
// formulation with the same semantics. `scale` defaults to 1/sqrt(D).
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v,
                                                  const c10::optional<torch::Tensor>& keep,
                                                  double dropout_p, bool is_causal) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, keep, dropout_p, is_causal);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (is_causal) {
    auto causal = torch::ones({q.size(-2), k.size(-2)}, q.options().dtype(torch::kBool)).tril();
    scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (keep.has_value()) {
    scores = scores.masked_fill(keep->logical_not(), -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(scores, -1);
  if (dropout_p > 0) probs = torch::dropout(probs, dropout_p, /*train=*/true);
  return torch::matmul(probs, v);
#endif
}

// Autocast (bf16 mixed precision on CUDA) changed its C++ entry points in 2.x.
inline void set_cuda_autocast(bool enabled, c10::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  at::autocast::set_enabled(enabled);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  if (!enabled) at::autocast::clear_cache();
}

// Autocast is thread-local: a worker enables bf16 autocast for the duration of one call.
struct CudaAutocastScope {
  bool on;
  explicit CudaAutocastScope(bool enable) : on(enable) {
    if (on) set_cuda_autocast(true, torch::kBFloat16);
  }
  ~CudaAutocastScope() {
    if (on) set_cuda_autocast(false, torch::kBFloat16);
  }
  CudaAutocastScope(const CudaAutocastScope&) = delete;
  CudaAutocastScope& operator=(const CudaAutocastScope&) = delete;
};

// CUDA graphs (generate/imr_graph.cpp): 2.x's CUDAGraph::capture_begin takes a capture mode, and
// thread-local mode leaves other threads free to call CUDA during a capture; 1.13 captures in
// global mode only. A macro, because the call that takes the argument must not be compiled on 1.13.
#define CHATBERT_GRAPH_CAPTURE_MODE (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))

inline std::string torch_version() { return TORCH_VERSION; }

// c10::Error carries a C++ backtrace in what(); users want the message alone.
inline std::string error_message(const c10::Error& e) { return e.what_without_backtrace(); }

// ---- IMR decoding (generate/): what differs between the versions ----
// Whether CUDA autocast is on for this thread: a CUDA graph must not capture under it (the casts
// it caches are freed when autocast ends, while the graph would keep reading them).
inline bool cuda_autocast_enabled() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}
// ---- end IMR decoding ----

}  // namespace chatbert::compat

// ---- Training step (native/train/step.cpp, native/train/adamw.cpp) ----------------------------
namespace chatbert::compat {

// LibTorch 2.x has a fused AdamW kernel (one launch per tensor group: clip by grad_scale, skip on
// found_inf, update) for CUDA; 2.4 added a CPU one. 1.13 has neither: adamw.cpp uses _foreach ops.
inline bool has_fused_adamw(const torch::Device& device) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return device.is_cuda() || device.is_cpu();
#elif TORCH_VERSION_MAJOR == 2
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

// AdamW (decoupled decay) over one group on the device: grads are divided by `grad_scale` (0-dim
// float32) first, and nothing changes where `found_inf` (0-dim float32) is 1. `state_steps` holds
// the step number being taken (float32), once per tensor. Only called where has_fused_adamw().
inline void fused_adamw_(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                         at::TensorList exp_avg_sqs, at::TensorList state_steps, double lr, double beta1,
                         double beta2, double weight_decay, double eps, const torch::Tensor& grad_scale,
                         const torch::Tensor& found_inf) {
#if TORCH_VERSION_MAJOR >= 2
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, state_steps, lr, beta1, beta2,
                    weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false, grad_scale, found_inf);
#else
  TORCH_CHECK(false, "fused AdamW needs LibTorch 2.x");
#endif
}

}  // namespace chatbert::compat
// ---- end training step ------------------------------------------------------------------------

// ---- c10d (native/train/dist.cpp) -------------------------------------------------------------
// 1.13's Gloo and NCCL groups are c10d::ProcessGroup subclasses whose collectives return
// ProcessGroup::Work; 2.x made them c10d::Backend subclasses returning c10d::Work. Forward
// declarations keep the c10d headers out of every other file.
namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d
namespace chatbert::compat {
#if TORCH_VERSION_MAJOR >= 2
using C10dGroup = c10d::Backend;
#else
using C10dGroup = c10d::ProcessGroup;
#endif
// What a collective returns (an intrusive_ptr to the version's Work), named through barrier().
template <class Group>
using c10d_work_ptr = decltype(std::declval<Group&>().barrier());
}  // namespace chatbert::compat
// ---- end c10d ---------------------------------------------------------------------------------
