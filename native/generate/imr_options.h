// ChatBERT-IMR's decoding options, said once: the struct's initialisers are the defaults, and
// imr_option_table() gives each option's JS name, range, allowed values and doc (see
// generate/option_table.h). String-valued options are enums here, spelled in one list each.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "generate/option_table.h"
#include "ops/unmask.h"

namespace chatbert {

// How many positions each iteration commits.
enum class ImrSchedule { kLinear, kCosine, kThreshold };
inline const std::vector<const char*> kImrScheduleValues = {"linear", "cosine", "threshold"};

// The temperature's path from initial to final.
enum class ImrAnneal { kLinear, kCosine };
inline const std::vector<const char*> kImrAnnealValues = {"linear", "cosine"};

// Token choice: top_k / top_p filter the logits and then sample (Gumbel-max in the op).
enum class ImrSampling { kArgmax, kGumbel, kTopK, kTopP };
inline const std::vector<const char*> kImrSamplingValues = {"argmax", "gumbel", "top_k", "top_p"};

// The op's own enum, in its order (ops::ConfidenceMeasure).
inline const std::vector<const char*> kConfidenceValues = {"max_prob", "margin", "neg_entropy"};

// How the reply's length is decided:
//   predict: from the model before decoding (the end-token distribution, or the length head),
//            which fixes the slot; end tokens are then banned inside it;
//   fixed:   max_length content positions;
//   free:    end tokens compete with content at every position (the collapse-prone baseline).
enum class ImrLengthMode { kPredict, kFixed, kFree };
inline const std::vector<const char*> kImrLengthModeValues = {"predict", "fixed", "free"};

// Which length lengthMode predict reads off an end-token model's all-masked slot, where p_end[i]
// (position i holds an end token) is P(length <= i): the mean, sum(1 - p_end), lands between the
// modes of a two-mode length distribution and cuts replies short or leaves fragments; the median
// counts the positions more likely content than ended; the mode is the most likely single length,
// argmax of p_end[i] - p_end[i-1]. (A length head's own argmax is its mode.)
enum class ImrLengthEstimate { kMean, kMedian, kMode };
inline const std::vector<const char*> kImrLengthEstimateValues = {"mean", "median", "mode"};

// The unmasking op: fused, or the naive reference.
enum class ImrImpl { kFused, kNaive };
inline const std::vector<const char*> kImrImplValues = {"fused", "naive"};

// What bestOf picks drafts by (lib/imr/generate.ts): auto = both where the model learned a
// bi-encoder, else pll; pll = pseudo-log-likelihood per token (fluency); bi_encoder = the pooled
// vectors' dot product (relevance); both = the better sum of the two ranks (ties to pll).
enum class ImrBestOfScore { kAuto, kPll, kBiEncoder, kBoth };
inline const std::vector<const char*> kImrBestOfScoreValues = {"auto", "pll", "bi_encoder", "both"};

struct ImrOptions {
  int64_t iterations = 10;
  ImrSchedule schedule = ImrSchedule::kCosine;
  double threshold = 0.9;  // threshold schedule: commit confidence >= tau (>= 1 per row)
  double initial_temperature = 1.0;
  double final_temperature = 0.1;
  ImrAnneal anneal = ImrAnneal::kLinear;
  ImrSampling sampling = ImrSampling::kArgmax;
  int64_t top_k = 50;
  double top_p = 0.9;
  ops::ConfidenceMeasure confidence = ops::ConfidenceMeasure::kMaxProb;
  double remask = 0.0;  // Mask-Predict: share of committed tokens returned to [MASK] (decaying to 0)
  ImrLengthMode length_mode = ImrLengthMode::kPredict;
  ImrLengthEstimate length_estimate = ImrLengthEstimate::kMedian;
  int64_t max_length = 0;  // 0 = the slot length
  int64_t min_length = 1;
  ImrImpl impl = ImrImpl::kFused;
  int64_t seed = 0;
  // Whole words: a continuation piece (##x) only right after a committed piece that continues a
  // word (needs the request's piece_kinds).
  bool whole_words = false;
  bool cuda_graph = true;  // CUDA: replay small batches from a captured graph (generate/imr_graph.h)
  // Drafts per reply, chosen among by the model's own score (lib/imr/generate.ts: selection needs
  // the bi-encoder or pseudo-log-likelihood, which live above the decoder). The decoder ignores it.
  int64_t best_of = 1;
  int64_t block_length = 0;  // semi-autoregressive windows (0 = off: commit anywhere in the slot)
  double guidance = 0.0;  // classifier-free guidance weight (0 = off): logits + w * (logits - logits without context)
  ImrBestOfScore best_of_score = ImrBestOfScore::kAuto;
  // CTRL's repetition penalty over the reply so far (1 = off): a model that copies from the
  // context would otherwise point at the same context word from several positions.
  double repetition_penalty = 1.0;
};

// Every option; the limit of maxLength and minLength is the slot length.
const OptionTable<ImrOptions>& imr_option_table();

// What no single option's range catches (minLength <= maxLength); "" when the options go together.
std::string imr_options_conflict(const ImrOptions& o);

}  // namespace chatbert
