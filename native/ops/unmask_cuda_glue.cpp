// ATen side of the CUDA unmasking kernel: checks the tensors, allocates the outputs and the
// workspace on the caching allocator, and enqueues ops/unmask_cuda.cu's launch on the current
// stream. Compiled only when Torch has CUDA (CMakeLists.txt, CHATBERT_WITH_CUDA). Never
// synchronises with the host: errors in the logits land in UnmaskResult::status.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <limits>

#include "ops/unmask.h"
#include "ops/unmask_cuda.h"

namespace chatbert::ops {

UnmaskResult unmask_cuda(const at::Tensor& logits_in, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& o) {
  const at::Tensor logits = logits_in.defined() ? logits_in.contiguous() : logits_in;
  check_unmask_inputs(logits, tokens, masked, o);
  TORCH_CHECK(logits.device().is_cuda(), "unmask_cuda: logits must be on a CUDA device");
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2);
  TORCH_CHECK(L <= kUnmaskCudaMaxLength, "unmask_cuda: L = ", L, " is larger than ", kUnmaskCudaMaxLength);
  TORCH_CHECK(B * L <= std::numeric_limits<int32_t>::max(), "unmask_cuda: B * L is too large");
  c10::cuda::CUDAGuard guard(logits.device());
  auto stream = c10::cuda::getCurrentCUDAStream();

  const auto dev = logits.options();
  UnmaskResult out;
  out.confidence = at::empty({B, L}, dev.dtype(at::kFloat));
  out.predicted = at::empty({B, L}, dev.dtype(at::kLong));
  out.committed = at::empty({B}, dev.dtype(at::kLong));
  out.status = at::empty({1}, dev.dtype(at::kLong));
  at::Tensor counters = at::empty({B}, dev.dtype(at::kInt));
  at::Tensor k;
  // A k on the host is copied without waiting (pass it on the device to skip the copy).
  if (o.k) k = o.k->to(logits.device(), at::kLong, /*non_blocking=*/true).contiguous();

  UnmaskCudaArgs a;
  a.logits = logits.data_ptr();
  a.dtype = logits.scalar_type() == at::kBFloat16 ? kUnmaskBFloat16 : kUnmaskFloat32;
  a.B = B;
  a.L = L;
  a.V = V;
  a.inv_temperature = unmask_inverse_temperature(o.temperature);
  a.choice = o.choice == TokenChoice::kGumbel ? kUnmaskGumbel : kUnmaskArgmax;
  a.confidence = o.confidence == ConfidenceMeasure::kMargin       ? kUnmaskMargin
                 : o.confidence == ConfidenceMeasure::kNegEntropy ? kUnmaskNegEntropy
                                                                  : kUnmaskMaxProb;
  a.noise_key = unmask_detail::noise_key(o.seed, o.step);
  a.first_row = o.first_row;
  a.k = o.k ? k.data_ptr<int64_t>() : nullptr;
  a.threshold = o.threshold ? static_cast<float>(*o.threshold) : 0.0f;
  a.tokens = tokens.data_ptr<int64_t>();
  a.masked = masked.data_ptr<bool>();
  a.confidence_out = out.confidence.data_ptr<float>();
  a.predicted_out = out.predicted.data_ptr<int64_t>();
  a.committed_out = out.committed.data_ptr<int64_t>();
  a.row_counters = counters.data_ptr<int>();
  a.status = reinterpret_cast<unsigned long long*>(out.status.data_ptr<int64_t>());
  a.stream = stream.stream();
  const int err = launch_unmask(a);
  TORCH_CHECK(err == 0, "unmask_cuda: kernel launch failed: ", unmask_cuda_error_string(err));
  return out;
}

std::vector<double> time_cuda_ms(const std::function<void()>& prepare, const std::function<void()>& body, int iters) {
  // Raw CUDA events (timing enabled), one pair per call; destroyed on every path.
  std::vector<cudaEvent_t> events(2 * static_cast<size_t>(std::max(iters, 0)), nullptr);
  struct Destroy {
    std::vector<cudaEvent_t>& e;
    ~Destroy() {
      for (auto ev : e)
        if (ev) cudaEventDestroy(ev);
    }
  } destroy{events};
  for (auto& ev : events) C10_CUDA_CHECK(cudaEventCreate(&ev));
  for (int i = 0; i < iters; ++i) {
    if (prepare) prepare();
    C10_CUDA_CHECK(cudaEventRecord(events[2 * i], c10::cuda::getCurrentCUDAStream().stream()));
    body();
    C10_CUDA_CHECK(cudaEventRecord(events[2 * i + 1], c10::cuda::getCurrentCUDAStream().stream()));
  }
  std::vector<double> ms(static_cast<size_t>(std::max(iters, 0)));
  for (int i = 0; i < iters; ++i) {
    C10_CUDA_CHECK(cudaEventSynchronize(events[2 * i + 1]));
    float t = 0.0f;
    C10_CUDA_CHECK(cudaEventElapsedTime(&t, events[2 * i], events[2 * i + 1]));
    ms[i] = t;
  }
  return ms;
}

}  // namespace chatbert::ops
