// ChatBERT-IMR's decoding loop (generate/imr.h), in named phases over one request's state:
//   decide_lengths       each row's content length: given, predicted from the all-[MASK] slot, or maxLength
//   settle_given_tokens  positions past the content and the caller's fixed tokens, committed up front
//   apply_bans           tokens that are never content, written into the logits
//   schedule             how many positions an iteration commits (k per row, or a threshold)
//   commit               the unmasking op, and each new token's confidence
//   remask               Mask-Predict: the least confident earlier commits back to [MASK]
// With guidance, each forward also runs the slot without its context and the logits are guided.
// The logits stay in the model's dtype (bf16 models and autocast give bf16, which the op reads
// directly). On CUDA nothing reads back from the device (but the threshold schedule's end test),
// so a CUDA graph captures the whole loop. On the CPU the batch's rows are projected, filtered and
// committed a group at a time, in one reused logits buffer of about kGroupElements values: a
// [B, L, V] buffer (250 MB at batch 64 with BERT's vocabulary) falls out of every cache and is
// page-faulted afresh at each allocation, which made batch 64 slower per reply than batch 1.
#include "generate/imr.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "generate/logits_processors.h"
#include "ops/unmask.h"
#include "torch_compat.h"

namespace chatbert {

double annealed_temperature(const ImrOptions& o, int64_t i, int64_t n) {
  if (n <= 1) return o.final_temperature;
  double x = static_cast<double>(i) / (n - 1);
  if (o.anneal == ImrAnneal::kCosine) x = 0.5 * (1 - std::cos(M_PI * x));
  return o.initial_temperature + (o.final_temperature - o.initial_temperature) * x;
}

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// CPU: logits values per group of rows (8 MB in float32: within a large L2 / the L3).
constexpr int64_t kGroupElements = int64_t(1) << 21;
// CPU: tokens per encoder pass, so that a pass's activations (attention scores, the FFN's inner
// layer) stay in cache too: a tiny model over a batch of 64 spends its time on memory traffic.
constexpr int64_t kEncodeTokens = 2048;

// One request's decoding state; the phases below read and update it.
struct Decode {
  DistilBertForMaskedLM& model;
  const ImrRequest& req;
  const ImrOptions& opt;
  const ImrSpecialIds& ids;
  const torch::Device dev;
  const int64_t B, T, L, V, max_len, min_len;
  const bool given_lengths;
  torch::Tensor ids_t;      // [B, T] the model's input, slot included
  torch::Tensor flat_slot;  // [B*L] positions of the slot tokens in the flattened [B*T] input
  torch::Tensor tokens, masked, token_conf, positions;
  torch::Tensor flat_hidden;  // [B*T, D] the last forward's hidden states
  CopySource copy;            // the copy head's source over them (a model with one)
  // Guidance: the hidden states of each row's slot without its context ([CLS] slot [SEP]),
  // [B*(L+2), D], and the slot's positions in them [B*L].
  torch::Tensor flat_uncond, flat_uncond_slot;
  torch::Tensor buffer;       // CPU: [group, L, V] logits of one group of rows in the model's dtype, reused
  int64_t group = 1;          // rows per group: the whole batch on CUDA
  torch::Tensor content_len;  // [B]
  torch::Tensor given;        // [B, L] caller-given tokens (never re-masked)
  torch::Tensor total;        // [B] positions to decode
  bool first_forward_done = false;

  Decode(DistilBertForMaskedLM& m, const ImrRequest& r, const ImrOptions& o, const ImrSpecialIds& i)
      : model(m),
        req(r),
        opt(o),
        ids(i),
        dev(r.input_ids.device()),
        B(r.input_ids.size(0)),
        T(r.input_ids.size(1)),
        L(r.slot_length),
        V(m->config.vocab_size),
        max_len(o.max_length > 0 ? std::min(o.max_length, r.slot_length) : r.slot_length),
        min_len(std::min(std::max<int64_t>(o.min_length, 0), max_len)),
        given_lengths(r.lengths.defined()) {
    ids_t = req.input_ids.clone();
    // Made on the device from a device slot_start: no host copy (a CUDA graph captures this).
    auto slot_start = req.slot_start.to(dev);
    auto slot_index = slot_start.unsqueeze(1) + torch::arange(L, slot_start.options()) + (torch::arange(B, slot_start.options()) * T).unsqueeze(1);
    flat_slot = slot_index.reshape({-1});
    const auto i64 = req.input_ids.options();
    tokens = torch::full({B, L}, ids.mask, i64);
    masked = torch::ones({B, L}, i64.dtype(torch::kBool));
    token_conf = torch::zeros({B, L}, i64.dtype(torch::kFloat32));
    positions = torch::arange(L, i64).unsqueeze(0);
    content_len = torch::full({B}, max_len, i64);
    given = torch::zeros({B, L}, masked.options());
    group = dev.is_cuda() ? B : std::max<int64_t>(1, std::min<int64_t>(B, kGroupElements / (L * V)));
    if (o.guidance > 0) flat_uncond_slot = (1 + torch::arange(L, i64) + (torch::arange(B, i64) * (L + 2)).unsqueeze(1)).reshape({-1});
  }

  void write_slot() { ids_t.view({-1}).index_put_({flat_slot}, tokens.reshape({-1})); }

  void encode(torch::Tensor* cls_state) {
    const int64_t rows = dev.is_cuda() ? B : std::max<int64_t>(1, kEncodeTokens / T);
    torch::Tensor hidden;
    if (rows >= B) {
      hidden = model->hidden_states(ids_t, req.attention_mask);
    } else {
      for (int64_t r0 = 0; r0 < B; r0 += rows) {
        const int64_t r1 = std::min(B, r0 + rows);
        auto h = model->hidden_states(ids_t.slice(0, r0, r1), req.attention_mask.slice(0, r0, r1));
        if (!hidden.defined()) hidden = torch::empty({B, T, h.size(2)}, h.options());
        hidden.slice(0, r0, r1).copy_(h);
      }
    }
    if (cls_state) *cls_state = hidden.select(1, 0);
    copy = model->copy_source(hidden, ids_t, req.attention_mask);
    flat_hidden = hidden.reshape({B * T, -1});
    if (opt.guidance > 0) {
      // The same slot with no context: L + 2 tokens a row, cheap beside the conditioned pass.
      auto col = [&](int64_t id) { return torch::full({B, 1}, id, tokens.options()); };
      flat_uncond = model->hidden_states(torch::cat({col(ids.cls), tokens, col(ids.sep)}, 1), torch::Tensor()).reshape({B * (L + 2), -1});
    }
  }

  // Classifier-free guidance (Ho & Salimans 2022; LLaDA uses it for masked diffusion): the
  // conditioned logits pushed away from the context-free ones, logits + w * (logits - logits
  // without context), which favours what this context makes likely over what any context does
  // (the generic reply). `cond` holds the slot positions of rows [r0, r1), or those of them that
  // `rows` lists (undefined: all).
  torch::Tensor guide(const torch::Tensor& cond, int64_t r0, int64_t r1, const torch::Tensor& rows) {
    if (opt.guidance <= 0) return cond;
    auto slot = flat_uncond_slot.slice(0, r0 * L, r1 * L);
    auto uncond = model->mlm_logits(flat_uncond.index_select(0, rows.defined() ? slot.index_select(0, rows) : slot));
    return cond + (cond - uncond) * opt.guidance;
  }

  // The MLM head at flat positions of the input (with the copy head's source, for a model with one).
  torch::Tensor head(const torch::Tensor& flat_positions) {
    return model->mlm_logits(flat_hidden.index_select(0, flat_positions), &copy, flat_positions);
  }

  // Logits of the slots of rows [r0, r1), [r1 - r0, L, V], from the last encode (the vocabulary
  // projection is the costly part). On CUDA the whole slot is projected (finding the masked
  // positions would read back a count). On the CPU, unless all_positions, only still-masked
  // positions are (finding them is free there); the buffer's other rows keep older logits, finite
  // (zeros where never computed: the op checks every position for NaN), which nothing uses.
  torch::Tensor group_logits(int64_t r0, int64_t r1, bool all_positions) {
    const int64_t n = r1 - r0;
    auto slot = flat_slot.slice(0, r0 * L, r1 * L);
    if (dev.is_cuda()) return guide(head(slot), r0, r1, torch::Tensor()).view({n, L, V});
    torch::Tensor rows;
    if (!all_positions) rows = masked.slice(0, r0, r1).reshape({-1}).nonzero().squeeze(1);
    const bool none = !all_positions && rows.numel() == 0;
    auto fresh = none ? torch::Tensor() : guide(head(all_positions ? slot : slot.index_select(0, rows)), r0, r1, rows);
    if (!buffer.defined()) buffer = torch::zeros({group, L, V}, none ? flat_hidden.options() : fresh.options());
    auto out = buffer.slice(0, 0, n);
    if (all_positions)
      out.view({n * L, V}).copy_(fresh);
    else if (!none)
      out.view({n * L, V}).index_copy_(0, rows, fresh);
    return out;
  }
};

// Content length per row: given, predicted, or max_length (also the bound of free mode).
void decide_lengths(Decode& d) {
  if (d.given_lengths) {
    d.content_len = d.req.lengths.to(d.dev, torch::kInt64).clamp(1, d.L);
    return;
  }
  if (d.opt.length_mode != ImrLengthMode::kPredict) return;
  torch::Tensor cls;
  d.encode(&cls);
  d.first_forward_done = true;
  torch::Tensor len;
  if (d.req.has_length_head && d.model->length_head) {
    len = d.model->length_head->forward(cls).argmax(-1);
  } else {
    // The number of content positions from the end-token distribution of the all-masked slot
    // (in float32 whatever the logits' dtype), by lengthEstimate.
    std::vector<torch::Tensor> parts;
    for (int64_t r0 = 0; r0 < d.B; r0 += d.group) {
      auto p_end = torch::softmax(d.group_logits(r0, std::min(d.B, r0 + d.group), true), -1, torch::kFloat32).select(-1, d.ids.sep);
      switch (d.opt.length_estimate) {
        case ImrLengthEstimate::kMean:
          parts.push_back((1 - p_end).sum(-1).round().to(torch::kInt64));
          break;
        case ImrLengthEstimate::kMedian:
          parts.push_back((p_end < 0.5).sum(-1).to(torch::kInt64));
          break;
        case ImrLengthEstimate::kMode: {
          // P(length = i) = P(length <= i) - P(length <= i - 1), negatives (p_end not rising) losing.
          auto before = torch::cat({torch::zeros_like(p_end.narrow(1, 0, 1)), p_end.narrow(1, 0, p_end.size(1) - 1)}, 1);
          parts.push_back((p_end - before).argmax(-1).to(torch::kInt64));
          break;
        }
      }
    }
    len = parts.size() == 1 ? parts[0] : torch::cat(parts);
  }
  d.content_len = len.clamp(std::max<int64_t>(d.min_len, 1), d.max_len);
}

// Commits what is not decoded: positions past the content (end tokens for end-token models,
// [MASK] as trained for length-head models) and the caller's fixed tokens.
void settle_given_tokens(Decode& d) {
  if (d.opt.length_mode != ImrLengthMode::kFree || d.given_lengths) {
    auto beyond = d.positions >= d.content_len.unsqueeze(1);
    d.tokens.masked_fill_(beyond, d.req.end_token_model ? d.ids.sep : d.ids.mask);
    d.masked.masked_fill_(beyond, false);
    d.write_slot();
  }
  if (d.req.fixed_tokens.defined()) {
    auto fixed = d.req.fixed_tokens.to(d.dev, torch::kInt64);
    d.given = fixed.ge(0) & (d.positions < d.content_len.unsqueeze(1));
    d.tokens = torch::where(d.given, fixed, d.tokens);
    d.masked.logical_and_(d.given.logical_not());
    d.token_conf.masked_fill_(d.given, 1.0f);
    d.write_slot();
  }
  d.total = d.masked.sum(1);
}

// Tokens that are never content: the specials, and the end token unless lengths are free.
torch::Tensor banned_tokens(const Decode& d) {
  std::vector<int64_t> banned = {d.ids.pad, d.ids.cls, d.ids.mask, d.ids.unk};
  if (d.opt.length_mode != ImrLengthMode::kFree) banned.push_back(d.ids.sep);
  // Filled in place on the device rather than copied from the host (capturable).
  auto t = torch::empty({static_cast<int64_t>(banned.size())}, d.req.input_ids.options().dtype(torch::kInt64));
  for (size_t i = 0; i < banned.size(); ++i) t[static_cast<int64_t>(i)].fill_(banned[i]);
  return t;
}

// Bans go into the logits themselves: they hold at every iteration, so writing them again over
// rows that were not recomputed changes nothing, and no [B, L, V] copy is made. Free mode keeps
// end tokens out of the first min_length positions.
void apply_bans(const Decode& d, torch::Tensor& logits, const torch::Tensor& banned) {
  logits.index_fill_(2, banned, kNegInf);
  if (d.opt.length_mode == ImrLengthMode::kFree && d.min_len > 0) logits.slice(1, 0, d.min_len).select(2, d.ids.sep).fill_(kNegInf);
}

// Whole words: a still-masked position may take a continuation piece (##x) only when its left
// neighbour is committed and continues a word; elsewhere a ## commit would glue to whatever is
// decided later (or to nothing), which is how "bigfish"-like non-words arise. The rows to ban are
// found on the host on the CPU (free there); on CUDA a broadcast mask keeps the loop sync-free.
void apply_whole_words(const Decode& d, torch::Tensor& logits, int64_t r0, int64_t r1, const torch::Tensor& kinds, const torch::Tensor& continuation,
                       const torch::Tensor& continuation_ids) {
  const int64_t n = r1 - r0;
  auto tokens = d.tokens.slice(0, r0, r1), masked = d.masked.slice(0, r0, r1);
  auto left_tokens = torch::cat({torch::full({n, 1}, d.ids.cls, tokens.options()), tokens.slice(1, 0, d.L - 1)}, 1);
  auto left_masked = torch::cat({torch::ones({n, 1}, masked.options()), masked.slice(1, 0, d.L - 1)}, 1);
  auto left_continues = kinds.index_select(0, left_tokens.reshape({-1})).view({n, d.L}).ne(kPieceOther) & left_masked.logical_not();
  auto blocked = masked & left_continues.logical_not();
  if (d.dev.is_cuda()) {
    logits.masked_fill_(blocked.unsqueeze(-1) & continuation.view({1, 1, d.V}), kNegInf);
    return;
  }
  auto rows = blocked.reshape({-1}).nonzero().squeeze(1);
  if (rows.numel() == 0 || continuation_ids.numel() == 0) return;
  auto flat = logits.view({n * d.L, d.V});
  flat.index_copy_(0, rows, flat.index_select(0, rows).index_fill_(1, continuation_ids, kNegInf));
}

// The repetition penalty (logits_processors.h), over the reply so far: at every position of a row
// (only the still-masked ones are read), the tokens committed anywhere in its slot. End tokens are
// exempt. On the CPU the positions still masked hold fresh logits each iteration, so nothing is
// penalised twice.
void apply_reply_repetition_penalty(const Decode& d, torch::Tensor& logits, int64_t r0, int64_t r1) {
  const int64_t n = r1 - r0;
  auto tokens = d.tokens.slice(0, r0, r1), masked = d.masked.slice(0, r0, r1);
  // Not committed (or an end token): point at [MASK], banned already (-inf stays -inf).
  auto seen = torch::where(masked | tokens.eq(d.ids.sep), torch::full_like(tokens, d.ids.mask), tokens);
  auto flat = logits.view({n * d.L, d.V});
  apply_repetition_penalty(flat, seen.unsqueeze(1).expand({n, d.L, d.L}).reshape({n * d.L, d.L}), d.opt.repetition_penalty);
}

// Top-k / top-p keep part of each distribution; sampling from what is kept is then Gumbel-max
// over the filtered logits, so the unmasking op does the draw. Probabilities in float32 whatever
// the logits' dtype (bf16 logits widen exactly, so the cut is the float32 one).
torch::Tensor filter_logits(const torch::Tensor& logits, const ImrOptions& o, double temperature) {
  if (o.sampling == ImrSampling::kTopK) {
    const int64_t k = std::min<int64_t>(o.top_k, logits.size(-1));
    auto kth = std::get<0>(logits.topk(k, -1)).select(-1, k - 1).unsqueeze(-1);
    return logits.masked_fill(logits < kth, kNegInf);
  }
  if (o.sampling == ImrSampling::kTopP) {
    auto sorted = logits.sort(-1, /*descending=*/true);
    auto values = std::get<0>(sorted), order = std::get<1>(sorted);
    auto probs = torch::softmax(values.to(torch::kFloat32) / temperature, -1);
    // Drop a token when the tokens ranked above it already hold p: the first one always stays.
    auto drop = (probs.cumsum(-1) - probs) > o.top_p;
    auto dropped = torch::zeros_like(drop).scatter(-1, order, drop);
    return logits.masked_fill(dropped, kNegInf);
  }
  return logits;
}

// The op's arguments for iteration `it` of `n_iter`: temperature, token choice, noise, and how
// many positions to commit. `still` [B]: positions still masked.
ops::UnmaskOptions schedule(const Decode& d, int64_t it, int64_t n_iter, double temperature, const torch::Tensor& still) {
  const auto& o = d.opt;
  ops::UnmaskOptions args;
  args.temperature = temperature;
  args.choice = o.sampling == ImrSampling::kArgmax ? ops::TokenChoice::kArgmax : ops::TokenChoice::kGumbel;
  args.confidence = o.confidence;
  args.seed = static_cast<uint64_t>(o.seed);
  args.step = static_cast<uint64_t>(it);
  const bool threshold_mode = o.schedule == ImrSchedule::kThreshold;
  if (threshold_mode && it < n_iter - 1) {
    args.threshold = o.threshold;
  } else if (threshold_mode || it >= o.iterations - 1) {
    args.k = still;  // complete the reply
  } else {
    // On the device (no host round trip): keep floor(ratio * total) masked.
    const double x = static_cast<double>(it + 1) / o.iterations;
    const double remain_ratio = o.schedule == ImrSchedule::kLinear ? 1.0 - x : std::cos(M_PI / 2 * x);
    auto remain = (d.total.to(torch::kFloat64) * remain_ratio + 1e-9).floor().to(torch::kInt64);  // 1e-9: 10 * (1 - 0.8) is 1.999...96
    args.k = torch::where(still > 0, (still - remain).clamp_min(1), torch::zeros_like(still));
  }
  return args;
}

// Semi-autoregressive decoding (blockLength > 0; LLaDA's semi-autoregressive remasking): only each
// row's leftmost still-masked positions, max(blockLength, k) of them, may be committed, so the reply
// is written left to right in windows; blockLength 1 with one commit per iteration is left to right.
// A tiny model that commits its most confident positions anywhere fills the slot with the tokens
// likely everywhere ("i", ".", ",") before any word that would tie them together.
torch::Tensor commit_window(const Decode& d, const torch::Tensor& masked, const c10::optional<torch::Tensor>& k) {
  auto rank = masked.to(torch::kInt64).cumsum(1);  // 1-based rank among the row's masked positions
  auto width = k ? k->clamp_min(d.opt.block_length).unsqueeze(1) : torch::full({1, 1}, d.opt.block_length, rank.options());
  return masked & (rank <= width);
}

// Runs the op on rows [r0, r1) (their slices of tokens and masked are updated in place).
ops::UnmaskResult commit_rows(Decode& d, const torch::Tensor& logits, ops::UnmaskOptions args, int64_t r0, int64_t r1) {
  if (args.k) args.k = args.k->slice(0, r0, r1);
  args.first_row = r0;
  auto tokens = d.tokens.slice(0, r0, r1), masked = d.masked.slice(0, r0, r1);
  auto run = [&](torch::Tensor& m) {
    return d.opt.impl == ImrImpl::kNaive ? ops::unmask_naive(logits, tokens, m, args) : ops::unmask(logits, tokens, m, args);
  };
  if (d.opt.block_length <= 0) return run(masked);
  // The op sees the window as the masked positions; those beyond it stay masked.
  auto window = commit_window(d, masked, args.k);
  auto beyond = masked & window.logical_not();
  auto out = run(window);
  masked.copy_(window | beyond);
  return out;
}

// Mask-Predict: returns the least confident earlier commits (not this iteration's, not given
// tokens) to [MASK], a share that decays to 0 over the iterations.
void remask(Decode& d, int64_t it, const torch::Tensor& newly) {
  const auto& o = d.opt;
  auto old = d.masked.logical_not() & (d.positions < d.content_len.unsqueeze(1)) & newly.logical_not() & d.given.logical_not();
  const double share = o.remask * (1.0 - static_cast<double>(it + 1) / o.iterations);
  auto n_re = (old.sum(1).to(torch::kFloat64) * share).round().to(torch::kInt64);
  auto score = d.token_conf.masked_fill(old.logical_not(), std::numeric_limits<float>::infinity());
  auto order = score.argsort(/*dim=*/int64_t(1), /*descending=*/false);
  auto rank = torch::empty_like(order).scatter_(1, order, d.positions.expand({d.B, d.L}).contiguous());
  auto back = old & (rank < n_re.unsqueeze(1));
  d.tokens.masked_fill_(back, d.ids.mask);
  d.masked.logical_or_(back);
}

// Reply lengths: the content lengths, or in free mode the first end token.
torch::Tensor reply_lengths(const Decode& d) {
  if (d.opt.length_mode != ImrLengthMode::kFree || d.given_lengths) return d.content_len;
  auto is_end = d.tokens.eq(d.ids.sep);
  return torch::where(is_end, d.positions.expand({d.B, d.L}), torch::full_like(d.tokens, d.L)).amin(1);
}

}  // namespace

ImrDecodeOutput imr_decode(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                           const ImrProgress& progress, const std::atomic<int32_t>* abort_flag) {
  torch::InferenceMode guard;
  Decode d(model, req, opt, ids);
  decide_lengths(d);
  settle_given_tokens(d);
  const auto banned = banned_tokens(d);
  torch::Tensor kinds, continuation, continuation_ids;
  if (opt.whole_words) {
    if (!req.piece_kinds.defined() || req.piece_kinds.numel() != d.V)
      throw std::invalid_argument("wholeWords needs the kind of each of the model's " + std::to_string(d.V) + " vocabulary entries (pieceKinds)");
    kinds = req.piece_kinds.to(d.dev, torch::kInt64);  // a no-op when already there (a CUDA graph's staged copy)
    continuation = kinds.eq(kPieceContinuation);
    if (!d.dev.is_cuda()) continuation_ids = continuation.nonzero().squeeze(1);  // CUDA bans by a mask, without a read-back
  }

  const bool threshold_mode = opt.schedule == ImrSchedule::kThreshold;
  const int64_t n_iter = threshold_mode ? std::max<int64_t>(opt.iterations, d.L) : opt.iterations;
  std::vector<torch::Tensor> committed_log, status_log;
  int64_t it = 0;
  for (; it < n_iter; ++it) {
    if (abort_flag && abort_flag->load() != 0) throw std::runtime_error("generation aborted");
    auto still = d.masked.sum(1);
    // Only the threshold schedule has a data-dependent end; the others run their iterations
    // without reading anything back from the device. On the CPU reading the count back is free,
    // so a finished reply stops early there too.
    if ((threshold_mode || !d.dev.is_cuda()) && still.max().item<int64_t>() == 0) break;
    if (!(it == 0 && d.first_forward_done)) d.encode(nullptr);
    const double temp = annealed_temperature(opt, std::min(it, opt.iterations - 1), opt.iterations);
    const auto args = schedule(d, it, n_iter, temp, still);
    auto before = d.masked.clone();
    std::vector<torch::Tensor> conf, committed;
    for (int64_t r0 = 0; r0 < d.B; r0 += d.group) {
      const int64_t r1 = std::min(d.B, r0 + d.group);
      auto logits = d.group_logits(r0, r1, opt.remask > 0);
      apply_bans(d, logits, banned);
      if (opt.whole_words) apply_whole_words(d, logits, r0, r1, kinds, continuation, continuation_ids);
      if (opt.repetition_penalty != 1.0) apply_reply_repetition_penalty(d, logits, r0, r1);
      auto out = commit_rows(d, filter_logits(logits, opt, temp), args, r0, r1);
      if (out.status.defined()) status_log.push_back(out.status);
      conf.push_back(out.confidence);
      committed.push_back(out.committed);
    }
    // Each newly committed token's confidence.
    auto newly = before & d.masked.logical_not();
    d.token_conf = torch::where(newly, conf.size() == 1 ? conf[0] : torch::cat(conf), d.token_conf);
    committed_log.push_back(committed.size() == 1 ? committed[0] : torch::cat(committed));
    if (opt.remask > 0 && it < opt.iterations - 1) remask(d, it, newly);
    d.write_slot();
    if (progress) progress(it, d.tokens, d.masked);
  }
  ImrDecodeOutput r;
  r.iterations = it;
  r.tokens = d.tokens;
  r.confidence = d.token_conf;
  r.lengths = reply_lengths(d);
  r.committed = committed_log.empty() ? torch::zeros({0, d.B}, d.tokens.options()) : torch::stack(committed_log);
  // One flag tensor, so that the host reads every iteration's flag with one copy.
  if (!status_log.empty()) r.status = torch::stack(status_log);
  return r;
}

ImrResult imr_finish(const ImrDecodeOutput& out) {
  const int64_t B = out.tokens.size(0), L = out.tokens.size(1);
  if (out.status.defined()) {
    // The one synchronisation: every iteration's flag at once. The first error is reported.
    auto flags = out.status.to(torch::kCPU).contiguous().view({-1});
    const int64_t* f = flags.data_ptr<int64_t>();
    for (int64_t i = 0; i < flags.numel(); ++i) {
      if (f[i] == -1) continue;
      ops::UnmaskResult bad;
      bad.status = flags.narrow(0, i, 1);
      ops::check_unmask_status(bad, B, L);  // throws with the op's message
    }
  }
  ImrResult r;
  r.iterations = out.iterations;
  r.tokens = out.tokens.to(torch::kCPU);
  r.lengths = out.lengths.to(torch::kCPU);
  r.confidence = out.confidence.to(torch::kCPU);
  r.committed = out.committed.to(torch::kCPU);
  return r;
}

ImrResult imr_generate(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                       const ImrProgress& progress, const std::atomic<int32_t>* abort_flag) {
  return imr_finish(imr_decode(model, req, opt, ids, progress, abort_flag));
}

}  // namespace chatbert
