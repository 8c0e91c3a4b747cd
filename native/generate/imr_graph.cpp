#include "generate/imr_graph.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#ifdef CHATBERT_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

#include "torch_compat.h"

namespace chatbert {

bool ImrGraphCache::applies(const ImrRequest& req, const ImrOptions& opt) {
#ifdef CHATBERT_WITH_CUDA
  return opt.cuda_graph && req.input_ids.defined() && req.input_ids.is_cuda() && opt.schedule != ImrSchedule::kThreshold &&
         opt.impl == ImrImpl::kFused && req.input_ids.size(0) <= kMaxBatch;
#else
  (void)req;
  (void)opt;
  return false;
#endif
}

#ifdef CHATBERT_WITH_CUDA

namespace {

// Context lengths are rounded up to a multiple of this (padding is masked out), so that chat
// turns of different lengths share a graph.
constexpr int64_t kLengthBucket = 32;

// Everything a captured graph bakes in: shapes, the options (temperatures and the schedule become
// kernel arguments), the request's optional inputs, and the weights' addresses (a model moved or
// reloaded into new memory must not replay old pointers). The seed only where noise is drawn: the
// op takes it as a kernel argument (argmax draws none, so every seed shares one graph).
std::string graph_key(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& o, const ImrSpecialIds& ids, int64_t Tb) {
  std::ostringstream k;
  auto e = [](auto v) { return static_cast<int>(v); };
  k << req.input_ids.size(0) << 'x' << Tb << " L" << req.slot_length << " dev" << req.input_ids.device().index() << " mask"
    << req.attention_mask.scalar_type() << " lh" << req.has_length_head << " et" << req.end_token_model << " fx" << req.fixed_tokens.defined()
    << " ln" << req.lengths.defined() << " | " << o.iterations << ' ' << e(o.schedule) << ' ' << o.initial_temperature << ' ' << o.final_temperature
    << ' ' << e(o.anneal) << ' ' << e(o.sampling) << ' ' << o.top_k << ' ' << o.top_p << ' ' << e(o.confidence) << ' ' << o.remask << ' '
    << e(o.length_mode) << ' ' << o.max_length << ' ' << o.min_length << ' ' << (o.sampling == ImrSampling::kArgmax ? int64_t(-1) : o.seed) << " ww" << o.whole_words << " g" << o.guidance << " bl" << o.block_length << " le" << e(o.length_estimate) << " rp" << o.repetition_penalty
    << " | " << ids.pad << ',' << ids.unk << ',' << ids.cls << ',' << ids.sep << ',' << ids.mask << " | w";
  size_t h = 1469598103934665603ull;
  for (const auto& p : model->parameters()) {
    h = (h ^ reinterpret_cast<uintptr_t>(p.data_ptr())) * 1099511628211ull;
    h = (h ^ static_cast<size_t>(p.scalar_type())) * 1099511628211ull;
  }
  k << std::hex << h;
  return k.str();
}

// Makes `waiter` wait for the work enqueued on `signaller` so far (an event, no host wait).
void stream_wait(const c10::cuda::CUDAStream& waiter, const c10::cuda::CUDAStream& signaller) {
  cudaEvent_t ev = nullptr;
  C10_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  const cudaError_t rec = cudaEventRecord(ev, signaller.stream());
  const cudaError_t wait = rec == cudaSuccess ? cudaStreamWaitEvent(waiter.stream(), ev, 0) : rec;
  cudaEventDestroy(ev);  // safe while pending: the wait already holds the recorded state
  C10_CUDA_CHECK(wait);
}

}  // namespace

struct ImrGraphCache::Impl {
  struct Entry {
    std::string key;
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    int64_t T = 0;  // the bucketed context length
    // The graph's fixed inputs: each request is copied into these before a replay.
    torch::Tensor input_ids, attention_mask, slot_start, fixed_tokens, lengths, piece_kinds;
    ImrDecodeOutput out;  // lives in the graph's memory pool; a replay rewrites it
    uint64_t last_used = 0;
  };
  std::vector<std::unique_ptr<Entry>> entries;
  std::unordered_set<std::string> failed;  // shapes whose capture failed: decoded eagerly from then on
  uint64_t clock = 0;
};

#else

struct ImrGraphCache::Impl {
  size_t n = 0;
};

#endif

ImrGraphCache::ImrGraphCache() : impl_(std::make_unique<Impl>()) {}
ImrGraphCache::~ImrGraphCache() = default;

#ifdef CHATBERT_WITH_CUDA

size_t ImrGraphCache::size() const { return impl_->entries.size(); }
void ImrGraphCache::clear() {
  impl_->entries.clear();
  impl_->failed.clear();
}

std::optional<ImrResult> ImrGraphCache::generate(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                                                 const std::atomic<int32_t>* abort_flag) {
  if (!applies(req, opt)) return std::nullopt;
  if (compat::cuda_autocast_enabled()) {
    // Autocast's cached casts would be freed under a captured graph: decode eagerly instead.
    static std::once_flag said;
    std::call_once(said, [] { std::fprintf(stderr, "chatbert: CUDA autocast is on: IMR decodes eagerly, without CUDA graphs\n"); });
    return std::nullopt;
  }
  torch::InferenceMode inference;
  const auto dev = req.input_ids.device();
  c10::cuda::CUDAGuard device_guard(dev);
  const int64_t B = req.input_ids.size(0), T = req.input_ids.size(1), L = req.slot_length;
  const int64_t max_T = model->config.max_position_embeddings;
  const int64_t Tb = std::max(T, std::min(max_T, (T + kLengthBucket - 1) / kLengthBucket * kLengthBucket));
  const std::string key = graph_key(model, req, opt, ids, Tb);
  if (impl_->failed.count(key)) return std::nullopt;
  if (abort_flag && abort_flag->load() != 0) throw std::runtime_error("generation aborted");

  Impl::Entry* e = nullptr;
  for (auto& x : impl_->entries)
    if (x->key == key) e = x.get();

  // Copies a request into an entry's inputs on the current stream: the context after T is padding
  // that the attention mask hides.
  auto stage = [&](Impl::Entry& x) {
    x.input_ids.fill_(ids.pad);
    x.input_ids.narrow(1, 0, T).copy_(req.input_ids);
    x.attention_mask.zero_();
    x.attention_mask.narrow(1, 0, T).copy_(req.attention_mask);
    x.slot_start.copy_(req.slot_start);
    if (req.fixed_tokens.defined()) x.fixed_tokens.copy_(req.fixed_tokens);
    if (req.lengths.defined()) x.lengths.copy_(req.lengths);
    if (req.piece_kinds.defined()) x.piece_kinds.copy_(req.piece_kinds);
  };
  auto staged_request = [&](Impl::Entry& x) {
    ImrRequest r = req;
    r.input_ids = x.input_ids;
    r.attention_mask = x.attention_mask;
    r.slot_start = x.slot_start;
    if (req.fixed_tokens.defined()) r.fixed_tokens = x.fixed_tokens;
    if (req.lengths.defined()) r.lengths = x.lengths;
    if (req.piece_kinds.defined()) r.piece_kinds = x.piece_kinds;  // on the device: the loop copies nothing
    return r;
  };

  if (e) {
    stage(*e);
    e->graph->replay();
    e->last_used = ++impl_->clock;
    ImrResult r = imr_finish(e->out);
    r.cuda_graph = true;
    return r;
  }

  // First request of this shape: stage, warm up eagerly on a side stream (lazy initialisation such
  // as cuBLAS workspaces must not happen inside a capture), then capture on the same stream.
  auto entry = std::make_unique<Impl::Entry>();
  entry->key = key;
  entry->T = Tb;
  const auto i64 = req.input_ids.options().dtype(torch::kInt64);
  entry->input_ids = torch::empty({B, Tb}, i64);
  entry->attention_mask = torch::empty({B, Tb}, req.attention_mask.options().device(dev));
  entry->slot_start = torch::empty({B}, i64);
  if (req.fixed_tokens.defined()) entry->fixed_tokens = torch::empty({B, L}, i64);
  if (req.lengths.defined()) entry->lengths = torch::empty({B}, i64);
  if (req.piece_kinds.defined()) entry->piece_kinds = torch::empty({req.piece_kinds.size(0)}, i64);
  stage(*entry);
  const ImrRequest sreq = staged_request(*entry);

  auto current = c10::cuda::getCurrentCUDAStream(dev.index());
  auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, dev.index());
  stream_wait(side, current);
  ImrResult first;
  {
    c10::cuda::CUDAStreamGuard stream_guard(side);
    first = imr_finish(imr_decode(model, sreq, opt, ids, {}, abort_flag));
    entry->graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
#if CHATBERT_GRAPH_CAPTURE_MODE
      entry->graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
#else
      entry->graph->capture_begin();
#endif
      try {
        entry->out = imr_decode(model, sreq, opt, ids, {}, nullptr);
      } catch (...) {
        // Leave capture mode before reporting: the stream must be usable again.
        cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
        if (cudaStreamIsCapturing(side.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
          try {
            entry->graph->capture_end();
          } catch (...) {
          }
        }
        (void)cudaGetLastError();
        throw;
      }
      entry->graph->capture_end();
    } catch (const std::exception& ex) {
      impl_->failed.insert(key);
      std::fprintf(stderr, "chatbert: IMR CUDA graph capture failed (%s); this shape decodes eagerly\n", ex.what());
      return first;
    }
  }
  stream_wait(current, side);
  entry->last_used = ++impl_->clock;
  if (impl_->entries.size() >= kMaxGraphs) {
    auto oldest = std::min_element(impl_->entries.begin(), impl_->entries.end(), [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
    impl_->entries.erase(oldest);
  }
  impl_->entries.push_back(std::move(entry));
  return first;
}

#else

size_t ImrGraphCache::size() const { return 0; }
void ImrGraphCache::clear() {}

std::optional<ImrResult> ImrGraphCache::generate(DistilBertForMaskedLM&, const ImrRequest&, const ImrOptions&, const ImrSpecialIds&,
                                                 const std::atomic<int32_t>*) {
  return std::nullopt;
}

#endif

}  // namespace chatbert
