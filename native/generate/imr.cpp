#include "generate/imr.h"

#include <cmath>
#include <stdexcept>

#include "ops/unmask.h"
#include "torch_compat.h"

namespace chatbert {

using torch::indexing::Slice;

double annealed_temperature(const ImrOptions& o, int64_t i, int64_t n) {
  if (n <= 1) return o.final_temperature;
  double x = static_cast<double>(i) / (n - 1);
  if (o.anneal == ImrAnneal::kCosine) x = 0.5 * (1 - std::cos(M_PI * x));
  return o.initial_temperature + (o.final_temperature - o.initial_temperature) * x;
}

namespace {

// Top-k / top-p keep part of each distribution; sampling from what is kept is then Gumbel-max
// over the filtered logits, so the unmasking op does the draw.
torch::Tensor filter_logits(torch::Tensor logits, const ImrOptions& o, double temperature) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (o.sampling == ImrSampling::kTopK) {
    const int64_t k = std::min<int64_t>(o.top_k, logits.size(-1));
    auto kth = std::get<0>(logits.topk(k, -1)).select(-1, k - 1).unsqueeze(-1);
    return logits.masked_fill(logits < kth, neg_inf);
  }
  if (o.sampling == ImrSampling::kTopP) {
    auto sorted = logits.sort(-1, /*descending=*/true);
    auto values = std::get<0>(sorted), order = std::get<1>(sorted);
    auto probs = torch::softmax(values / temperature, -1);
    // Drop a token when the tokens ranked above it already hold p: the first one always stays.
    auto drop = (probs.cumsum(-1) - probs) > o.top_p;
    auto dropped = torch::zeros_like(drop).scatter(-1, order, drop);
    return logits.masked_fill(dropped, neg_inf);
  }
  return logits;
}

}  // namespace

ImrDecodeOutput imr_decode(DistilBertForMaskedLM& model, const ImrRequest& req, const ImrOptions& opt, const ImrSpecialIds& ids,
                           const ImrProgress& progress, const std::atomic<int32_t>* abort_flag) {
  torch::InferenceMode guard;
  const auto dev = req.input_ids.device();
  const int64_t B = req.input_ids.size(0), T = req.input_ids.size(1), L = req.slot_length;
  const int64_t V = model->config.vocab_size;
  const int64_t max_len = opt.max_length > 0 ? std::min(opt.max_length, L) : L;
  const int64_t min_len = std::min(std::max<int64_t>(opt.min_length, 0), max_len);

  auto ids_t = req.input_ids.clone();
  // slot_index[b, j] = position of slot token j of row b in the flattened [B*T] sequence. Made on
  // the device from a device slot_start, no host copy happens here (a CUDA graph captures this).
  auto slot_start = req.slot_start.to(dev);
  auto slot_index = slot_start.unsqueeze(1) + torch::arange(L, slot_start.options()) + (torch::arange(B, slot_start.options()) * T).unsqueeze(1);
  auto flat_slot = slot_index.reshape({-1});
  auto tokens = torch::full({B, L}, ids.mask, req.input_ids.options());
  auto masked = torch::ones({B, L}, req.input_ids.options().dtype(torch::kBool));
  auto token_conf = torch::zeros({B, L}, req.input_ids.options().dtype(torch::kFloat32));
  auto logits_buf = torch::zeros({B, L, V}, req.input_ids.options().dtype(torch::kFloat32));
  auto positions = torch::arange(L, req.input_ids.options()).unsqueeze(0);

  auto write_slot = [&] { ids_t.view({-1}).index_put_({flat_slot}, tokens.reshape({-1})); };
  // Logits at the still-masked slot positions only (the vocabulary projection is the costly part);
  // rows of committed positions keep stale values that the op ignores.
  auto forward = [&](bool all_positions, torch::Tensor* cls_state) {
    auto hidden = model->hidden_states(ids_t, req.attention_mask);
    if (cls_state) *cls_state = hidden.select(1, 0);
    auto flat_hidden = hidden.reshape({B * T, -1});
    // On the CPU the projection runs only where still masked (finding those rows is free there);
    // on CUDA finding them would read back a count, so the whole slot is projected instead.
    if (all_positions || dev.is_cuda()) {
      logits_buf.copy_(model->mlm_logits(flat_hidden.index_select(0, flat_slot)).view({B, L, V}));
    } else {
      auto rows = masked.reshape({-1}).nonzero().squeeze(1);
      if (rows.numel() > 0)
        logits_buf.view({B * L, V}).index_copy_(0, rows, model->mlm_logits(flat_hidden.index_select(0, flat_slot.index_select(0, rows))).to(torch::kFloat32));
    }
  };

  // Content length per row: fixed by prediction or by max_length, except in free mode.
  torch::Tensor content_len = torch::full({B}, max_len, req.input_ids.options());
  bool first_forward_done = false;
  const bool given_lengths = req.lengths.defined();
  if (given_lengths) {
    content_len = req.lengths.to(dev, torch::kInt64).clamp(1, L);
  } else if (opt.length_mode == ImrLengthMode::kPredict) {
    torch::Tensor cls;
    forward(true, &cls);
    first_forward_done = true;
    if (req.has_length_head && model->length_head) {
      content_len = model->length_head->forward(cls).argmax(-1);
    } else {
      // Expected number of content positions under the end-token distribution of the all-masked slot.
      auto p_end = torch::softmax(logits_buf, -1).select(-1, ids.sep);
      content_len = (1 - p_end).sum(-1).round().to(torch::kInt64);
    }
    content_len = content_len.clamp(std::max<int64_t>(min_len, 1), max_len);
  }
  if (opt.length_mode != ImrLengthMode::kFree || given_lengths) {
    // Positions past the content are settled before decoding: end tokens (end-token models) or
    // [MASK] left as it was trained (length-head models); either way they are not decoded.
    auto beyond = positions >= content_len.unsqueeze(1);
    tokens.masked_fill_(beyond, req.end_token_model ? ids.sep : ids.mask);
    masked.masked_fill_(beyond, false);
    write_slot();
  }
  torch::Tensor given = torch::zeros({B, L}, masked.options());
  if (req.fixed_tokens.defined()) {
    auto fixed = req.fixed_tokens.to(dev, torch::kInt64);
    given = fixed.ge(0) & (positions < content_len.unsqueeze(1));
    tokens = torch::where(given, fixed, tokens);
    masked.logical_and_(given.logical_not());
    token_conf.masked_fill_(given, 1.0f);
    write_slot();
  }
  const auto total = masked.sum(1);  // positions to decode per row

  // Tokens that are never content: end tokens only in free mode, and then not before min_length.
  std::vector<int64_t> banned = {ids.pad, ids.cls, ids.mask, ids.unk};
  if (opt.length_mode != ImrLengthMode::kFree) banned.push_back(ids.sep);
  // Filled in place on the device rather than copied from the host (capturable).
  auto banned_t = torch::empty({static_cast<int64_t>(banned.size())}, req.input_ids.options().dtype(torch::kInt64));
  for (size_t i = 0; i < banned.size(); ++i) banned_t[static_cast<int64_t>(i)].fill_(banned[i]);
  const float neg_inf = -std::numeric_limits<float>::infinity();

  const bool threshold_mode = opt.schedule == ImrSchedule::kThreshold;
  const int64_t n_iter = threshold_mode ? std::max<int64_t>(opt.iterations, L) : opt.iterations;
  std::vector<torch::Tensor> committed_log;
  std::vector<ops::UnmaskResult> statuses;  // CUDA error flags, read once at the end
  int64_t it = 0;
  for (; it < n_iter; ++it) {
    if (abort_flag && abort_flag->load() != 0) throw std::runtime_error("generation aborted");
    auto still = masked.sum(1);
    // Only the threshold schedule has a data-dependent end; the others run their iterations
    // without reading anything back from the device.
    // On the CPU reading the count back is free, so a finished reply stops early there too.
    if ((threshold_mode || !dev.is_cuda()) && still.max().item<int64_t>() == 0) break;
    if (!(it == 0 && first_forward_done)) forward(opt.remask > 0, nullptr);
    const double temp = annealed_temperature(opt, std::min(it, opt.iterations - 1), opt.iterations);
    // Bans go into the buffer itself: they hold at every iteration, so writing them again over
    // rows that were not recomputed changes nothing, and no [B, L, V] copy is made.
    logits_buf.index_fill_(2, banned_t, neg_inf);
    if (opt.length_mode == ImrLengthMode::kFree && min_len > 0) logits_buf.slice(1, 0, min_len).select(2, ids.sep).fill_(neg_inf);
    auto logits = filter_logits(logits_buf, opt, temp);

    ops::UnmaskOptions args;
    args.temperature = temp;
    args.choice = opt.sampling == ImrSampling::kArgmax ? ops::TokenChoice::kArgmax : ops::TokenChoice::kGumbel;
    args.confidence = opt.confidence;
    args.seed = static_cast<uint64_t>(opt.seed);
    args.step = static_cast<uint64_t>(it);
    if (threshold_mode && it < n_iter - 1) {
      args.threshold = opt.threshold;
    } else if (threshold_mode || it >= opt.iterations - 1) {
      args.k = still;  // complete the reply
    } else {
      // The schedule on the device (no host round trip): keep floor(ratio * total) masked.
      const double x = static_cast<double>(it + 1) / opt.iterations;
      const double remain_ratio = opt.schedule == ImrSchedule::kLinear ? 1.0 - x : std::cos(M_PI / 2 * x);
      auto remain = (total.to(torch::kFloat64) * remain_ratio + 1e-9).floor().to(torch::kInt64);  // 1e-9: 10 * (1 - 0.8) is 1.999...96
      args.k = torch::where(still > 0, (still - remain).clamp_min(1), torch::zeros_like(still));
    }
    auto before = masked.clone();
    auto out = opt.impl == ImrImpl::kNaive ? ops::unmask_naive(logits, tokens, masked, args) : ops::unmask(logits, tokens, masked, args);
    statuses.push_back(out);
    auto newly = before & masked.logical_not();
    token_conf = torch::where(newly, out.confidence, token_conf);
    committed_log.push_back(out.committed);

    // Mask-Predict: return the least confident earlier commits to [MASK], fewer each iteration.
    if (opt.remask > 0 && it < opt.iterations - 1) {
      auto old = before.logical_not() & (positions < content_len.unsqueeze(1)) & newly.logical_not() & given.logical_not();
      const double share = opt.remask * (1.0 - static_cast<double>(it + 1) / opt.iterations);
      auto n_old = old.sum(1);
      auto n_re = (n_old.to(torch::kFloat64) * share).round().to(torch::kInt64);
      {
        auto score = token_conf.masked_fill(old.logical_not(), std::numeric_limits<float>::infinity());
        auto order = score.argsort(/*dim=*/int64_t(1), /*descending=*/false);
        auto rank = torch::empty_like(order).scatter_(1, order, positions.expand({B, L}).contiguous());
        auto remask = old & (rank < n_re.unsqueeze(1));
        tokens.masked_fill_(remask, ids.mask);
        masked.logical_or_(remask);
      }
    }
    write_slot();
    if (progress) progress(it, tokens, masked);
  }
  ImrDecodeOutput r;
  r.iterations = it;
  r.statuses = std::move(statuses);
  r.tokens = tokens;
  r.confidence = token_conf;
  if (opt.length_mode == ImrLengthMode::kFree && !given_lengths) {
    // The reply ends at the first end token.
    auto is_end = tokens.eq(ids.sep);
    auto first = torch::where(is_end, positions.expand({B, L}), torch::full_like(tokens, L)).amin(1);
    r.lengths = first;
  } else {
    r.lengths = content_len;
  }
  r.committed = committed_log.empty() ? torch::zeros({0, B}, tokens.options()) : torch::stack(committed_log);
  return r;
}

ImrResult imr_finish(const ImrDecodeOutput& out) {
  const int64_t B = out.tokens.size(0), L = out.tokens.size(1);
  for (const auto& st : out.statuses) ops::check_unmask_status(st, B, L);
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
