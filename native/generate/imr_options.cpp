// The table of ChatBERT-IMR's decoding options (generate/imr_options.h): one entry per option, in
// the order /help lists them. Ranges are what decoding copes with, not what is sensible.
#include "generate/imr_options.h"

namespace chatbert {

const OptionTable<ImrOptions>& imr_option_table() {
  static const OptionTable<ImrOptions> table = [] {
    using O = ImrOptions;
    OptionTable<O> t = {
        int_option<&O::iterations>("iterations", 1, 1024, "Refinement iterations (the threshold schedule runs at least slotLength)."),
        enum_option<&O::schedule>("schedule", kImrScheduleValues,
                                  "How many positions each iteration commits: linear, cosine, or every one with confidence >= threshold."),
        number_option<&O::threshold>("threshold", 0, 1, "Threshold schedule: commit positions this confident (at least one per row)."),
        number_option<&O::initial_temperature>("initialTemperature", 1e-4, 100, "Temperature of the first iteration."),
        number_option<&O::final_temperature>("finalTemperature", 1e-4, 100, "Temperature of the last iteration."),
        enum_option<&O::anneal>("anneal", kImrAnnealValues, "The temperature's path from initial to final."),
        enum_option<&O::sampling>("sampling", kImrSamplingValues, "Token choice: argmax, Gumbel sampling, or sampling among the top k / top p."),
        int_option<&O::top_k>("topK", 1, 1 << 24, "sampling top_k: sample among this many most likely tokens."),
        number_option<&O::top_p>("topP", 1e-6, 1, "sampling top_p: sample among the most likely tokens holding this probability."),
        enum_option<&O::confidence>("confidence", kConfidenceValues, "What makes a position confident: its top probability, top-1 minus top-2, or -entropy."),
        number_option<&O::remask>("remask", 0, 1, "Mask-Predict: share of committed tokens returned to [MASK] each iteration, decaying to 0."),
        enum_option<&O::length_mode>("lengthMode", kImrLengthModeValues,
                                     "Reply length: predicted by the model before decoding, fixed at maxLength, or free (end tokens compete)."),
        enum_option<&O::length_estimate>("lengthEstimate", kImrLengthEstimateValues,
                                         "lengthMode predict, end-token models: the length read off the end tokens' probabilities "
                                         "(the median: where the reply is more likely ended than not; the mean; or the most likely length)."),
        int_option<&O::max_length>("maxLength", 1, 0, "At most this many reply tokens (default: the model's response slot)."),
        int_option<&O::min_length>("minLength", 0, 0, "At least this many reply tokens."),
        enum_option<&O::impl>("impl", kImrImplValues, "The unmasking op: fused, or the naive reference."),
        int_option<&O::seed>("seed", 0, 9007199254740992.0, "Sampling seed (integers up to 2^53)."),
        bool_option<&O::whole_words>("wholeWords",
                                     "Whole words: commit a continuation piece (##x) only right after a committed piece that continues a word "
                                     "(never first, after punctuation, or beside a still-masked position), so that no word is made of pieces "
                                     "committed apart."),
        int_option<&O::block_length>("blockLength", 0, 1 << 16,
                                     "Semi-autoregressive: each iteration commits only among the leftmost blockLength (or more, when the schedule "
                                     "commits more) still-masked positions, so replies are written left to right; 0 = anywhere in the slot."),
        number_option<&O::guidance>("guidance", 0, 100,
                                    "Classifier-free guidance: logits + guidance * (logits - logits of the slot without its context); "
                                    "favours what this context makes likely over what any context does. 0 = off (each forward then runs once)."),
        int_option<&O::best_of>("bestOf", 1, 64,
                                "Drafts per reply: the first as decoded, the others sampled (Gumbel) at nearby lengths; the model keeps the "
                                "one it scores best (bestOfScore)."),
        enum_option<&O::best_of_score>("bestOfScore", kImrBestOfScoreValues,
                                       "What bestOf picks by: pseudo-log-likelihood per token (pll), the bi-encoder (bi_encoder), "
                                       "the sum of both ranks (both), or auto: both where the model learned a bi-encoder, else pll."),
        number_option<&O::repetition_penalty>("repetitionPenalty", 1e-3, 100,
                                              "> 1 discourages tokens already committed in the reply, at every position still masked (CTRL; 1 = off)."),
        bool_option<&O::cuda_graph>("cudaGraph",
                                    "CUDA: replay batches of up to 8 from a CUDA graph captured on the first request of each shape. "
                                    "No effect on the CPU, with onIteration, with the threshold schedule, or with impl naive."),
    };
    for (auto& f : t) {
      const std::string n = f.name;
      if (n == "maxLength" || n == "minLength") f.limit = OptionLimit::kSlotLength;
      if (n == "maxLength") f.default_for_limit = [](int64_t slot_length) { return slot_length; };
    }
    return t;
  }();
  return table;
}

std::string imr_options_conflict(const ImrOptions& o) {
  if (o.max_length > 0 && o.min_length > o.max_length)
    return "minLength (" + std::to_string(o.min_length) + ") must be <= maxLength (" + std::to_string(o.max_length) + ")";
  return "";
}

}  // namespace chatbert
