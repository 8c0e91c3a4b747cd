// ChatBERT-IMR from CUDA graphs. At batch 1 a reply is ~10 iterations of a few dozen small kernels
// each (the model's layers, the unmasking op, the schedule's bookkeeping): launch overhead, not
// arithmetic, sets the latency. The whole decoding loop (generate/imr.h's imr_decode) is captured
// once per shape and set of options and then replayed as one launch; requests are staged into
// the graph's fixed input buffers. No CUDA header here: CPU builds compile this to "never applies".
#pragma once
#include <atomic>
#include <memory>
#include <optional>

#include "generate/imr.h"

namespace chatbert {

class ImrGraphCache {
 public:
  // Larger batches are compute-bound: a graph saves little there and holds a large private pool.
  static constexpr int64_t kMaxBatch = 8;
  // Graphs kept per model (least recently used dropped first).
  static constexpr size_t kMaxGraphs = 8;

  ImrGraphCache();
  ~ImrGraphCache();
  ImrGraphCache(const ImrGraphCache&) = delete;
  ImrGraphCache& operator=(const ImrGraphCache&) = delete;

  // Whether a graph can serve this request: CUDA, opt.cuda_graph, no progress callback (the caller
  // checks that), a schedule with a fixed iteration count (not threshold), the fused op, B <= kMaxBatch.
  static bool applies(const ImrRequest& req, const ImrOptions& opt);

  // Decodes from a graph: the first request of a shape runs eagerly (the warm-up) and captures the
  // graph, later ones replay it (result.cuda_graph). Returns nullopt when no graph applies or the
  // capture failed once for this shape (the caller then decodes eagerly).
  std::optional<ImrResult> generate(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                                    const std::atomic<int32_t>* abort_flag);

  size_t size() const;
  void clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chatbert
