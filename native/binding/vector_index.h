// JS class VectorIndex: an exact maximum-inner-product index. It holds an [N, dim] float32 tensor
// on a device (the encoder's, so that on a GPU the pool never leaves it) and answers top-k queries
// with matmul + topk, chunked over the rows so that the score block stays bounded however large
// the pool grows. ChatBERT-RA keeps its candidate pool in one.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace chatbert::js {

struct VectorIndexState {
  std::mutex mu;  // add/search/save/load: one at a time
  torch::Device device{torch::kCPU};
  int64_t dim = 0;
  torch::Tensor data;  // [capacity, dim] float32 on `device`; rows [0, size) are live
  std::atomic<int64_t> size{0};  // read by the JS thread's `size` getter while a worker adds

  // Appends vectors [n, dim] (moved to the index's device); amortised O(n) by doubling capacity.
  // Caller holds mu.
  void add(const torch::Tensor& vectors);
  // queries [Q, dim] (any device) -> (scores [Q, k'], ids [Q, k'] int64), k' = min(k, size), each
  // row sorted best first. chunk_rows <= 0 picks a chunk so that a score block holds at most
  // 2^24 floats. Caller holds mu.
  std::pair<torch::Tensor, torch::Tensor> search(const torch::Tensor& queries, int64_t k, int64_t chunk_rows) const;
  torch::Tensor live() const;  // [size, dim] view
};

class VectorIndexWrap : public Napi::ObjectWrap<VectorIndexWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit VectorIndexWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<VectorIndexState> state(Napi::Env env) const;  // throws when disposed

 private:
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Search(const Napi::CallbackInfo& info);
  Napi::Value Vectors(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetDim(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<VectorIndexState> state_;
};

// The state of a VectorIndex passed as an argument; TypeError naming `name` for anything else.
std::shared_ptr<VectorIndexState> UnwrapVectorIndex(const Napi::Value& v, const std::string& name);

// The JS result of a search: { ids: Int32Array, scores: Float32Array, k } (row-major [Q, k]).
Napi::Value SearchResultToObject(Napi::Env env, const torch::Tensor& scores, const torch::Tensor& ids);

}  // namespace chatbert::js
