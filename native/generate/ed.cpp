#include "generate/ed.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace chatbert {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

void apply_repetition_penalty(torch::Tensor& logits, const torch::Tensor& previous, double penalty) {
  if (penalty == 1.0 || previous.size(1) == 0) return;
  // gather reads the original logits before scatter writes, so a token seen twice is penalised once.
  auto score = logits.gather(1, previous);
  score = torch::where(score < 0, score * penalty, score / penalty);
  logits.scatter_(1, previous, score);
}

void apply_no_repeat_ngram(torch::Tensor& logits, const std::vector<std::vector<int64_t>>& histories, int64_t n) {
  if (n <= 0) return;
  std::vector<int64_t> rows, cols;
  for (size_t r = 0; r < histories.size(); ++r) {
    const auto& h = histories[r];
    const int64_t len = static_cast<int64_t>(h.size());
    if (len + 1 < n) continue;
    // The n-gram the next token would complete starts with the last n-1 tokens; every earlier
    // occurrence of that prefix bans the token that followed it.
    for (int64_t i = 0; i + n <= len; ++i) {
      if (std::equal(h.begin() + i, h.begin() + i + n - 1, h.end() - (n - 1))) {
        rows.push_back(static_cast<int64_t>(r));
        cols.push_back(h[i + n - 1]);
      }
    }
  }
  if (rows.empty()) return;
  auto dev = logits.device();
  auto opts = torch::TensorOptions().dtype(torch::kInt64);
  logits.index_put_({torch::tensor(rows, opts).to(dev), torch::tensor(cols, opts).to(dev)}, kNegInf);
}

namespace {

struct Decoding {
  EncoderDecoder& model;
  const EdGenerateOptions& opt;
  const EdSpecialIds& ids;
  torch::Tensor suppressed;  // [n] int64 on the device
  const std::atomic<int32_t>* abort_flag;
  torch::Tensor encoder_hidden, encoder_mask;  // per decoder row (beams repeat their input's)

  void check_abort() const {
    if (abort_flag && abort_flag->load() != 0) throw std::runtime_error("generation aborted");
  }

  // Logits [N, V] (float32) of the next token after the reply prefix seqs[:, :t].
  torch::Tensor next_logits(EdDecoderCache& cache, const torch::Tensor& last, const torch::Tensor& seqs, int64_t t) {
    auto& dec = model->decoder;
    torch::Tensor h;
    if (opt.use_cache) {
      h = dec->hidden(last, cache, /*use_self_cache=*/true);
    } else {
      // No cache at all, as Hugging Face's use_cache=False: the cross-attention keys/values are
      // projected again and the whole prefix runs again, every step.
      auto fresh = dec->start(encoder_hidden, encoder_mask);
      auto bos = torch::full({seqs.size(0), 1}, ids.bos, seqs.options());
      h = dec->hidden(torch::cat({bos, seqs.narrow(1, 0, t)}, 1), fresh, /*use_self_cache=*/false);
    }
    return dec->logits(h.select(1, h.size(1) - 1)).to(torch::kFloat32);
  }

  // Hugging Face's processor order: repetition penalty, no-repeat n-grams, minimum length, then
  // the tokens that are never part of a reply.
  void process(torch::Tensor& logits, const torch::Tensor& seqs, int64_t t, const std::vector<std::vector<int64_t>>& hist) const {
    if (opt.repetition_penalty != 1.0 && t > 0) apply_repetition_penalty(logits, seqs.narrow(1, 0, t), opt.repetition_penalty);
    if (opt.no_repeat_ngram_size > 0) apply_no_repeat_ngram(logits, hist, opt.no_repeat_ngram_size);
    if (t < opt.min_length) logits.select(1, ids.eos).fill_(kNegInf);
    if (suppressed.numel() > 0) logits.index_fill_(1, suppressed, kNegInf);
    // A row whose every token is banned (tiny vocabularies, long no-repeat constraints) ends
    // rather than producing NaN probabilities. Stays on the device: no read-back.
    auto dead = logits.amax(1).isneginf();
    logits.select(1, ids.eos).masked_fill_(dead, 0.0f);
  }

  // Plan: top-k and top-p keep a short head of the ranked vocabulary, so rank only a head of K
  // tokens (topk, not a sort of all V: the sort was 4/5 of a sampled step at V = 15k) and widen it
  // only while some row's top-p mass reaches past it; then draw inside the head. Without either, draw
  // from the whole distribution.
  torch::Tensor sample(torch::Tensor logits, const at::Generator& gen) const {
    const int64_t N = logits.size(0), V = logits.size(1);
    logits = logits / opt.temperature;
    const bool by_k = opt.top_k > 0 && opt.top_k < V;
    torch::Tensor values, order;  // [N, K], most likely first; order holds vocabulary ids
    if (by_k || opt.top_p < 1.0) {
      int64_t K = by_k ? opt.top_k : std::min<int64_t>(V, 64);
      // top_p is measured after top_k: over the head's softmax with top_k, the whole vocabulary's without.
      auto log_z = by_k ? torch::Tensor() : logits.logsumexp(-1, /*keepdim=*/true);
      for (;;) {
        auto top = logits.topk(K, -1);
        values = std::get<0>(top);
        order = std::get<1>(top);
        if (opt.top_p >= 1.0) break;
        auto probs = by_k ? torch::softmax(values, -1) : (values - log_z).exp();
        // A token stays when the tokens ranked above it hold at most top_p: the first always does.
        auto drop = (probs.cumsum(-1) - probs) > opt.top_p;
        // Every row's head ends with a dropped token, so nothing past the head would be kept.
        if (by_k || K == V || drop.select(1, K - 1).all().item<bool>()) {
          values = values.masked_fill(drop, kNegInf);
          break;
        }
        K = std::min(V, K * 4);
      }
    } else {
      values = logits;
    }
    // Inverse-CDF sampling with one uniform per row drawn from a seeded CPU generator, so a seed
    // gives the same replies on every device.
    const int64_t K = values.size(1);
    auto probs = torch::softmax(values, -1).to(torch::kFloat64);
    auto cdf = probs.cumsum(-1);
    auto u = torch::rand({N, 1}, gen, torch::TensorOptions().dtype(torch::kFloat64)).to(values.device());
    auto idx = torch::searchsorted(cdf, u * cdf.narrow(1, K - 1, 1), /*out_int32=*/false, /*right=*/true).clamp_max(K - 1);
    // Rounding may land on a token without mass at the very end: take the most likely one then.
    auto ok = probs.gather(1, idx) > 0;
    idx = torch::where(ok, idx, probs.argmax(-1, /*keepdim=*/true));
    return (order.defined() ? order.gather(1, idx) : idx).squeeze(1);
  }

  EdResult greedy_or_sample(const EdProgress& progress) {
    const int64_t B = encoder_hidden.size(0), L = opt.max_length;
    const auto dev = encoder_hidden.device();
    const auto long_opts = torch::TensorOptions().dtype(torch::kInt64).device(dev);
    auto cache = opt.use_cache ? model->decoder->start(encoder_hidden, encoder_mask) : EdDecoderCache{};
    auto seqs = torch::full({B, L}, ids.pad, long_opts);
    auto last = torch::full({B, 1}, ids.bos, long_opts);
    auto scores = torch::zeros({B}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
    std::vector<std::vector<int64_t>> hist(B);
    std::vector<uint8_t> active(B, 1);
    std::vector<int64_t> lengths(B, L);
    auto alive = torch::ones({B}, long_opts.dtype(torch::kBool));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(opt.seed));
    int64_t steps = 0;
    for (int64_t t = 0; t < L; ++t) {
      check_abort();
      auto logits = next_logits(cache, last, seqs, t);
      auto logp = torch::log_softmax(logits, -1);  // the model's own probabilities, for the score
      process(logits, seqs, t, hist);
      auto next = opt.sampling ? sample(logits, gen) : logits.argmax(-1);
      next = torch::where(alive, next, torch::full_like(next, ids.pad));
      scores += torch::where(alive, logp.gather(1, next.unsqueeze(1)).squeeze(1), torch::zeros_like(scores));
      auto is_eos = next.eq(ids.eos).logical_and(alive);
      seqs.select(1, t).copy_(torch::where(is_eos, torch::full_like(next, ids.pad), next));
      alive = alive.logical_and(is_eos.logical_not());
      ++steps;
      // One read-back per step: the streaming callback, the n-gram histories and the stop test.
      auto host = next.to(torch::kCPU);
      const int64_t* p = host.data_ptr<int64_t>();
      std::vector<int64_t> tokens(p, p + B);
      std::vector<uint8_t> was_active = active;
      bool any = false;
      for (int64_t b = 0; b < B; ++b) {
        if (!active[b]) continue;
        if (tokens[b] == ids.eos) {
          active[b] = 0;
          lengths[b] = t;
        } else {
          hist[b].push_back(tokens[b]);
          any = true;
        }
      }
      if (progress) progress(t, tokens, was_active);
      if (!any) break;
      last = next.unsqueeze(1);
    }
    EdResult r;
    r.tokens = seqs;
    r.lengths = torch::tensor(lengths, torch::TensorOptions().dtype(torch::kInt64));
    r.scores = scores;
    r.steps = steps;
    return r;
  }

  struct Hypothesis {
    double score;
    std::vector<int64_t> tokens;
    bool ended;  // by [EOS] (else by max_length)
  };

  // Keeps the num_beams best finished hypotheses of one input, as Hugging Face's BeamHypotheses.
  struct Hypotheses {
    std::vector<Hypothesis> items;
    size_t capacity;
    double worst() const {
      double w = std::numeric_limits<double>::infinity();
      for (const auto& h : items) w = std::min(w, h.score);
      return w;
    }
    void add(Hypothesis h) {
      if (items.size() >= capacity && h.score <= worst()) return;
      items.push_back(std::move(h));
      if (items.size() > capacity) {
        auto w = std::min_element(items.begin(), items.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score < b.score; });
        items.erase(w);
      }
    }
  };

  double normalised(double sum_logprobs, int64_t length) const {
    return sum_logprobs / std::pow(static_cast<double>(std::max<int64_t>(length, 1)), opt.length_penalty);
  }

  EdResult beam_search(const EdProgress& progress) {
    const int64_t B = encoder_hidden.size(0), K = opt.num_beams, N = B * K, L = opt.max_length;
    const int64_t V = model->decoder->config.vocab_size;
    const auto dev = encoder_hidden.device();
    const auto long_opts = torch::TensorOptions().dtype(torch::kInt64).device(dev);
    encoder_hidden = encoder_hidden.repeat_interleave(K, 0);
    if (encoder_mask.defined()) encoder_mask = encoder_mask.repeat_interleave(K, 0);
    auto cache = opt.use_cache ? model->decoder->start(encoder_hidden, encoder_mask) : EdDecoderCache{};
    auto seqs = torch::full({N, L}, ids.pad, long_opts);
    auto last = torch::full({N, 1}, ids.bos, long_opts);
    std::vector<std::vector<int64_t>> hist(N);
    // Only the first beam of each input is live at the start, so the first step does not pick
    // the same token K times.
    std::vector<double> beam_scores(N, 0.0);
    for (int64_t i = 0; i < N; ++i)
      if (i % K != 0) beam_scores[i] = -1e9;
    std::vector<Hypotheses> hyps(B, Hypotheses{{}, static_cast<size_t>(K)});
    std::vector<uint8_t> done(B, 0);
    int64_t steps = 0, t = 0;
    for (; t < L; ++t) {
      check_abort();
      auto logits = next_logits(cache, last, seqs, t);
      process(logits, seqs, t, hist);
      auto scores_t = torch::tensor(beam_scores, torch::TensorOptions().dtype(torch::kFloat64)).to(dev, torch::kFloat32);
      auto cand = (torch::log_softmax(logits, -1) + scores_t.unsqueeze(1)).view({B, K * V});
      auto top = cand.topk(2 * K, 1);
      auto top_scores = std::get<0>(top).to(torch::kCPU, torch::kFloat64).contiguous();
      auto top_index = std::get<1>(top).to(torch::kCPU).contiguous();
      const double* ts = top_scores.data_ptr<double>();
      const int64_t* ti = top_index.data_ptr<int64_t>();
      ++steps;
      std::vector<double> next_scores(N, 0.0);
      std::vector<int64_t> next_tokens(N, ids.pad), next_src(N, 0);
      for (int64_t b = 0; b < B; ++b) {
        if (done[b]) {
          for (int64_t k = 0; k < K; ++k) next_src[b * K + k] = b * K;
          continue;
        }
        int64_t chosen = 0;
        for (int64_t r = 0; r < 2 * K && chosen < K; ++r) {
          const double score = ts[b * 2 * K + r];
          const int64_t idx = ti[b * 2 * K + r];
          const int64_t src = b * K + idx / V, tok = idx % V;
          if (tok == ids.eos) {
            // Only an [EOS] among the K best candidates finishes a hypothesis (as in HF).
            if (r < K && std::isfinite(score)) hyps[b].add({normalised(score, t + 1), hist[src], true});
            continue;
          }
          next_scores[b * K + chosen] = score;
          next_tokens[b * K + chosen] = tok;
          next_src[b * K + chosen] = src;
          ++chosen;
        }
        // Done when no live beam can beat the worst kept hypothesis any more (HF's heuristic,
        // judged at the current length), or at once with early_stopping.
        if (hyps[b].items.size() >= static_cast<size_t>(K))
          done[b] = opt.early_stopping || hyps[b].worst() >= normalised(next_scores[b * K], t + 1);
      }
      if (std::all_of(done.begin(), done.end(), [](uint8_t d) { return d != 0; })) break;
      auto src_t = torch::tensor(next_src, torch::TensorOptions().dtype(torch::kInt64)).to(dev);
      auto tok_t = torch::tensor(next_tokens, torch::TensorOptions().dtype(torch::kInt64)).to(dev);
      if (opt.use_cache) cache.reorder(src_t);
      seqs = seqs.index_select(0, src_t);
      seqs.select(1, t).copy_(tok_t);
      std::vector<std::vector<int64_t>> next_hist(N);
      for (int64_t i = 0; i < N; ++i) {
        next_hist[i] = hist[next_src[i]];
        next_hist[i].push_back(next_tokens[i]);
      }
      hist = std::move(next_hist);
      beam_scores = std::move(next_scores);
      last = tok_t.unsqueeze(1);
    }
    // Inputs still open at max_length: their live beams are hypotheses as they stand.
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      for (int64_t k = 0; k < K; ++k) hyps[b].add({normalised(beam_scores[b * K + k], static_cast<int64_t>(hist[b * K + k].size())), hist[b * K + k], false});
    }
    auto tokens = torch::full({B, L}, ids.pad, torch::TensorOptions().dtype(torch::kInt64));
    auto lengths = torch::zeros({B}, torch::TensorOptions().dtype(torch::kInt64));
    auto scores = torch::zeros({B}, torch::TensorOptions().dtype(torch::kFloat32));
    std::vector<const Hypothesis*> best(B);
    for (int64_t b = 0; b < B; ++b) {
      const auto& items = hyps[b].items;
      best[b] = &*std::max_element(items.begin(), items.end(), [](const Hypothesis& a, const Hypothesis& c) { return a.score < c.score; });
      const auto& w = best[b]->tokens;
      for (size_t j = 0; j < w.size(); ++j) tokens[b][static_cast<int64_t>(j)] = w[j];
      lengths[b] = static_cast<int64_t>(w.size());
      scores[b] = best[b]->score;
    }
    if (progress) {
      // Beams are only settled at the end: the winners are streamed then, step by step.
      for (int64_t j = 0; j <= L; ++j) {
        std::vector<int64_t> step_tokens(B, ids.pad);
        std::vector<uint8_t> active(B, 0);
        bool any = false;
        for (int64_t b = 0; b < B; ++b) {
          const auto& w = best[b]->tokens;
          const int64_t n = static_cast<int64_t>(w.size());
          if (j < n) step_tokens[b] = w[j];
          else if (j == n && best[b]->ended) step_tokens[b] = ids.eos;
          else continue;
          active[b] = 1;
          any = true;
        }
        if (!any) break;
        progress(j, step_tokens, active);
      }
    }
    EdResult r;
    r.tokens = tokens;
    r.lengths = lengths;
    r.scores = scores;
    r.steps = steps;
    return r;
  }
};

}  // namespace

EdResult ed_generate(EncoderDecoder& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask, const EdGenerateOptions& opt,
                     const EdSpecialIds& ids, const EdProgress& progress, const std::atomic<int32_t>* abort_flag) {
  torch::InferenceMode guard;
  opt.validate(model->decoder->config.n_positions);
  const auto dev = input_ids.device();
  Decoding d{model, opt, ids, torch::tensor(ids.suppressed, torch::TensorOptions().dtype(torch::kInt64)).to(dev), abort_flag,
             model->encode(input_ids, attention_mask), attention_mask};
  auto r = (opt.num_beams > 1 || opt.force_beam_search) ? d.beam_search(progress) : d.greedy_or_sample(progress);
  r.tokens = r.tokens.to(torch::kCPU);
  r.lengths = r.lengths.to(torch::kCPU);
  r.scores = r.scores.to(torch::kCPU, torch::kFloat32);
  return r;
}

}  // namespace chatbert
