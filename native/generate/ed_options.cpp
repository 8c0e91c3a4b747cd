// The table of ChatBERT-ED's decoding options (generate/ed_options.h), in the order /help lists
// them, and the checks across options.
#include "generate/ed_options.h"

#include <algorithm>

namespace chatbert {

const OptionTable<EdGenerateOptions>& ed_option_table() {
  static const OptionTable<EdGenerateOptions> table = [] {
    using O = EdGenerateOptions;
    OptionTable<O> t = {
        int_option<&O::max_length>("maxLength", 1, 0, "At most this many reply tokens (default: the reply length the model was trained with)."),
        int_option<&O::min_length>("minLength", 0, 0, "No [EOS] before this many reply tokens."),
        bool_option<&O::sampling>("sampling", "Sample instead of taking the most likely token (off: greedy, or beam search with numBeams > 1)."),
        number_option<&O::temperature>("temperature", 1e-4, 100, "Sampling temperature."),
        int_option<&O::top_k>("topK", 0, 1 << 24, "Sample among the k most likely tokens (0 = off)."),
        number_option<&O::top_p>("topP", 1e-6, 1, "Sample among the most likely tokens holding probability p (1 = off)."),
        int_option<&O::num_beams>("numBeams", 1, 64, "Beam search with this many beams (1 = off)."),
        number_option<&O::length_penalty>("lengthPenalty", -10, 10, "Beam score = sum of log-probabilities / length ** lengthPenalty (> 1 favours longer replies)."),
        bool_option<&O::early_stopping>("earlyStopping", "Stop a beam search as soon as numBeams replies are finished."),
        number_option<&O::repetition_penalty>("repetitionPenalty", 1e-3, 100, "> 1 discourages tokens already in the reply (CTRL; 1 = off)."),
        int_option<&O::no_repeat_ngram_size>("noRepeatNgramSize", 0, 0, "No n-gram of this size occurs twice in a reply (0 = off)."),
        int_option<&O::seed>("seed", 0, 9007199254740992.0, "Sampling seed (integers up to 2^53)."),
        bool_option<&O::use_cache>("useCache", "Key/value cache for the decoder's self-attention (off: the slow reference)."),
        bool_option<&O::force_beam_search>("forceBeamSearch", "Testing: the beam-search code path even with numBeams = 1."),
    };
    for (auto& f : t) {
      const std::string n = f.name;
      if (n == "maxLength" || n == "minLength" || n == "noRepeatNgramSize") f.limit = OptionLimit::kDecoderPositions;
      if (n == "maxLength") f.default_for_limit = [](int64_t n_positions) { return std::min(EdGenerateOptions{}.max_length, n_positions); };
      if (n == "forceBeamSearch") f.internal = true;
    }
    return t;
  }();
  return table;
}

std::string ed_options_conflict(const EdGenerateOptions& o) {
  if (o.min_length > o.max_length)
    return "minLength (" + std::to_string(o.min_length) + ") must be <= maxLength (" + std::to_string(o.max_length) + ")";
  if (o.sampling && (o.num_beams > 1 || o.force_beam_search))
    return "sampling with num_beams = " + std::to_string(o.num_beams) + " is not supported: use sampling (num_beams = 1) or beam search (sampling off)";
  return "";
}

void EdGenerateOptions::validate(int64_t n_positions) const {
  check_option_ranges(ed_option_table(), *this, n_positions);
  const std::string conflict = ed_options_conflict(*this);
  if (!conflict.empty()) throw std::invalid_argument(conflict);
}

}  // namespace chatbert
