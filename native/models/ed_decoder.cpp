#include "models/ed_decoder.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "torch_compat.h"

namespace chatbert {

namespace F = torch::nn::functional;

void EdDecoderConfig::validate() const {
  auto positive = [](const char* name, int64_t v) {
    if (v <= 0) throw std::invalid_argument(std::string("decoder.") + name + " must be a positive integer, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("n_embd", n_embd);
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_inner", n_inner);
  positive("n_positions", n_positions);
  positive("encoder_dim", encoder_dim);
  if (n_embd % n_head != 0)
    throw std::invalid_argument("decoder.n_embd (" + std::to_string(n_embd) + ") must be divisible by decoder.n_head (" + std::to_string(n_head) + ")");
  if (!(dropout >= 0 && dropout < 1)) throw std::invalid_argument("decoder.dropout must be in [0, 1)");
  if (!(initializer_range > 0)) throw std::invalid_argument("decoder.initializer_range must be > 0");
}

void EdDecoderCache::reorder(const torch::Tensor& index) {
  for (auto& l : layers) {
    if (l.self_k.defined()) {
      l.self_k = l.self_k.index_select(0, index);
      l.self_v = l.self_v.index_select(0, index);
    }
  }
}

namespace {

// [B, S, C] -> [B, H, S, C / H]
torch::Tensor split_heads(const torch::Tensor& t, int64_t n_head) {
  const int64_t B = t.size(0), S = t.size(1), C = t.size(2);
  return t.view({B, S, n_head, C / n_head}).transpose(1, 2);
}

torch::Tensor merge_heads(const torch::Tensor& t) {
  const int64_t B = t.size(0), H = t.size(1), S = t.size(2), D = t.size(3);
  return t.transpose(1, 2).reshape({B, S, H * D});
}

torch::nn::LayerNorm layer_norm(int64_t n) { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({n}).eps(1e-5)); }

}  // namespace

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const EdDecoderConfig& c) : n_head(c.n_head), n_embd(c.n_embd), dropout(c.dropout) {
  c_attn = register_module("c_attn", torch::nn::Linear(c.n_embd, 3 * c.n_embd));
  c_proj = register_module("c_proj", torch::nn::Linear(c.n_embd, c.n_embd));
  resid_dropout = register_module("resid_dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, EdLayerCache* cache) {
  const int64_t S = x.size(1);
  auto qkv = c_attn->forward(x).split(n_embd, 2);
  auto q = split_heads(qkv[0], n_head), k = split_heads(qkv[1], n_head), v = split_heads(qkv[2], n_head);
  if (cache) {
    if (cache->self_k.defined()) {
      k = torch::cat({cache->self_k, k}, 2);
      v = torch::cat({cache->self_v, v}, 2);
    }
    cache->self_k = k;
    cache->self_v = v;
  }
  const int64_t total = k.size(2);
  // One new position may see every key; several new positions need the causal mask, offset by
  // the cached prefix when there is one (the fused kernel's is_causal assumes no prefix).
  c10::optional<torch::Tensor> keep;
  bool causal = false;
  if (S > 1) {
    if (total == S) {
      causal = true;
    } else {
      auto opts = x.options().dtype(torch::kLong);
      keep = (torch::arange(S, opts).unsqueeze(1) + (total - S)).ge(torch::arange(total, opts).unsqueeze(0));
    }
  }
  auto y = compat::scaled_dot_product_attention(q, k, v, keep, is_training() ? dropout : 0.0, causal);
  return resid_dropout->forward(c_proj->forward(merge_heads(y)));
}

CrossAttentionImpl::CrossAttentionImpl(const EdDecoderConfig& c) : n_head(c.n_head), n_embd(c.n_embd), dropout(c.dropout) {
  q_attn = register_module("q_attn", torch::nn::Linear(c.n_embd, c.n_embd));
  c_attn = register_module("c_attn", torch::nn::Linear(c.encoder_dim, 2 * c.n_embd));
  c_proj = register_module("c_proj", torch::nn::Linear(c.n_embd, c.n_embd));
  resid_dropout = register_module("resid_dropout", torch::nn::Dropout(c.dropout));
}

std::pair<torch::Tensor, torch::Tensor> CrossAttentionImpl::project_encoder(const torch::Tensor& encoder_hidden) {
  auto kv = c_attn->forward(encoder_hidden).split(n_embd, 2);
  return {split_heads(kv[0], n_head), split_heads(kv[1], n_head)};
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& keep) {
  auto q = split_heads(q_attn->forward(x), n_head);
  auto y = compat::scaled_dot_product_attention(q, k, v, keep, is_training() ? dropout : 0.0, false);
  return resid_dropout->forward(c_proj->forward(merge_heads(y)));
}

DecoderMLPImpl::DecoderMLPImpl(const EdDecoderConfig& c) {
  c_fc = register_module("c_fc", torch::nn::Linear(c.n_embd, c.n_inner));
  c_proj = register_module("c_proj", torch::nn::Linear(c.n_inner, c.n_embd));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor DecoderMLPImpl::forward(const torch::Tensor& x) { return dropout->forward(c_proj->forward(torch::gelu(c_fc->forward(x)))); }

DecoderBlockImpl::DecoderBlockImpl(const EdDecoderConfig& c) {
  ln_1 = register_module("ln_1", layer_norm(c.n_embd));
  attn = register_module("attn", CausalSelfAttention(c));
  ln_cross_attn = register_module("ln_cross_attn", layer_norm(c.n_embd));
  crossattention = register_module("crossattention", CrossAttention(c));
  ln_2 = register_module("ln_2", layer_norm(c.n_embd));
  mlp = register_module("mlp", DecoderMLP(c));
}

torch::Tensor DecoderBlockImpl::forward(torch::Tensor x, EdLayerCache& cache, const torch::Tensor& keep, bool use_self_cache) {
  x = x + attn->forward(ln_1->forward(x), use_self_cache ? &cache : nullptr);
  x = x + crossattention->forward(ln_cross_attn->forward(x), cache.cross_k, cache.cross_v, keep);
  return x + mlp->forward(ln_2->forward(x));
}

EdDecoderImpl::EdDecoderImpl(const EdDecoderConfig& c) : config(c) {
  config.validate();
  wte = register_module("wte", torch::nn::Embedding(c.vocab_size, c.n_embd));
  wpe = register_module("wpe", torch::nn::Embedding(c.n_positions, c.n_embd));
  drop = register_module("drop", torch::nn::Dropout(c.dropout));
  h = register_module("h", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(DecoderBlock(c));
  ln_f = register_module("ln_f", layer_norm(c.n_embd));
  reset_parameters();
}

void EdDecoderImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  const double std = config.initializer_range;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      lin->weight.normal_(0, std);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* emb = m->as<torch::nn::Embedding>()) {
      emb->weight.normal_(0, std);
    } else if (auto* ln = m->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
  // GPT-2 / nanoGPT: the projections that write into the residual stream are scaled down by
  // sqrt(2 * n_layer), so the stream's variance does not grow with depth.
  const double proj_std = std / std::sqrt(2.0 * static_cast<double>(config.n_layer));
  for (const auto& p : named_parameters(true)) {
    const auto& name = p.key();
    if (name.size() > 13 && name.compare(name.size() - 13, 13, "c_proj.weight") == 0) p.value().normal_(0, proj_std);
  }
}

EdDecoderCache EdDecoderImpl::start(const torch::Tensor& encoder_hidden, const torch::Tensor& encoder_mask) {
  const int64_t B = encoder_hidden.size(0), T = encoder_hidden.size(1);
  EdDecoderCache cache;
  cache.encoder_keep = encoder_mask.defined() ? encoder_mask.ne(0).view({B, 1, 1, T})
                                              : torch::ones({B, 1, 1, T}, encoder_hidden.options().dtype(torch::kBool));
  cache.layers.resize(h->size());
  for (size_t i = 0; i < h->size(); ++i) {
    auto kv = h[i]->as<DecoderBlock>()->crossattention->project_encoder(encoder_hidden);
    cache.layers[i].cross_k = kv.first;
    cache.layers[i].cross_v = kv.second;
  }
  return cache;
}

torch::Tensor EdDecoderImpl::hidden(const torch::Tensor& input_ids, EdDecoderCache& cache, bool use_self_cache) {
  const int64_t S = input_ids.size(1);
  const int64_t past = use_self_cache ? cache.length : 0;
  if (past + S > config.n_positions)
    throw std::invalid_argument("the decoder input reaches position " + std::to_string(past + S) + " but the decoder has " +
                                std::to_string(config.n_positions) + " positions (n_positions)");
  auto positions = torch::arange(past, past + S, input_ids.options().dtype(torch::kLong)).unsqueeze(0);
  auto x = drop->forward(wte->forward(input_ids) + wpe->forward(positions));
  for (size_t i = 0; i < h->size(); ++i) x = h[i]->as<DecoderBlock>()->forward(x, cache.layers[i], cache.encoder_keep, use_self_cache);
  if (use_self_cache) cache.length += S;
  return ln_f->forward(x);
}

torch::Tensor EdDecoderImpl::logits(const torch::Tensor& hidden) { return F::linear(hidden, wte->weight); }

torch::Tensor EdDecoderImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& encoder_hidden, const torch::Tensor& encoder_mask) {
  auto cache = start(encoder_hidden, encoder_mask);
  return hidden(input_ids, cache, /*use_self_cache=*/false);
}

EncoderDecoderImpl::EncoderDecoderImpl(const DistilBertConfig& ec, const EdDecoderConfig& dc) : encoder_config(ec) {
  ec.validate();
  if (dc.encoder_dim != ec.dim)
    throw std::invalid_argument("decoder.encoder_dim (" + std::to_string(dc.encoder_dim) + ") must equal the encoder's dim (" + std::to_string(ec.dim) + ")");
  if (dc.vocab_size != ec.vocab_size)
    throw std::invalid_argument("decoder.vocab_size (" + std::to_string(dc.vocab_size) + ") must equal the encoder's vocab_size (" + std::to_string(ec.vocab_size) + "): both use the BERT vocabulary");
  distilbert = register_module("distilbert", DistilBertModel(ec));
  decoder = register_module("decoder", EdDecoder(dc));
  // Hugging Face's DistilBERT init for a randomly initialised encoder (a pretrained one is loaded
  // over it): N(0, initializer_range), zero biases and padding row, LayerNorm (1, 0).
  torch::NoGradGuard no_grad;
  for (auto& m : distilbert->modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      lin->weight.normal_(0, ec.initializer_range);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* emb = m->as<torch::nn::Embedding>()) {
      emb->weight.normal_(0, ec.initializer_range);
      if (emb->options.padding_idx().has_value()) emb->weight[*emb->options.padding_idx()].zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
  if (ec.sinusoidal_pos_embds) fill_sinusoidal_embeddings(distilbert->embeddings->position_embeddings->weight);
}

}  // namespace chatbert
