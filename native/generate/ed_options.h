// ChatBERT-ED's decoding options, said once: the struct's initialisers are the defaults, and
// ed_option_table() gives each option's JS name, range and doc (see generate/option_table.h).
// Hugging Face's generate() semantics; lengths count reply tokens ([EOS] not included).
#pragma once
#include <cstdint>

#include "generate/option_table.h"

namespace chatbert {

struct EdGenerateOptions {
  int64_t max_length = 32;        // clamped to the decoder's positions when not given
  int64_t min_length = 0;
  bool sampling = false;          // false: greedy (num_beams = 1) or beam search
  double temperature = 1.0;       // sampling only
  int64_t top_k = 0;              // 0 = off
  double top_p = 1.0;             // 1 = off
  int64_t num_beams = 1;
  double length_penalty = 1.0;    // beam score = sum log p / length ** length_penalty
  bool early_stopping = false;    // a batch item is done once it has num_beams finished hypotheses
  double repetition_penalty = 1.0;
  int64_t no_repeat_ngram_size = 0;
  int64_t seed = 0;
  bool use_cache = true;          // false recomputes the decoder prefix every step (the reference)
  bool force_beam_search = false; // beam-search code path even for num_beams = 1 (its test against greedy)

  // Every range of the table, then the combinations that cannot go together; throws
  // std::invalid_argument naming the offending option. n_positions: the decoder's.
  void validate(int64_t n_positions) const;
};

// Every option; the limit of maxLength, minLength and noRepeatNgramSize is the decoder's positions.
const OptionTable<EdGenerateOptions>& ed_option_table();

// What no single option's range catches; "" when the options go together.
std::string ed_options_conflict(const EdGenerateOptions& o);

}  // namespace chatbert
