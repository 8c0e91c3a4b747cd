#include "models/distilbert.h"

#include <cmath>
#include <stdexcept>

#include "torch_compat.h"

namespace chatbert {

namespace F = torch::nn::functional;

void DistilBertConfig::validate() const {
  auto positive = [](const char* name, int64_t v) {
    if (v <= 0) throw std::invalid_argument(std::string("config.") + name + " must be a positive integer, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("dim", dim);
  positive("n_layers", n_layers);
  if (pool_layers < 0 || pool_layers > n_layers)
    throw std::invalid_argument("config.pool_layers must be in [0, n_layers = " + std::to_string(n_layers) + "], got " + std::to_string(pool_layers));
  if (pool_tower_layers < 0 || pool_tower_layers > 64)
    throw std::invalid_argument("config.pool_tower_layers must be in [0, 64], got " + std::to_string(pool_tower_layers));
  positive("n_heads", n_heads);
  positive("hidden_dim", hidden_dim);
  positive("max_position_embeddings", max_position_embeddings);
  if (dim % n_heads != 0)
    throw std::invalid_argument("config.dim (" + std::to_string(dim) + ") must be divisible by config.n_heads (" + std::to_string(n_heads) + ")");
  if (!(dropout >= 0 && dropout < 1)) throw std::invalid_argument("config.dropout must be in [0, 1)");
  if (!(attention_dropout >= 0 && attention_dropout < 1)) throw std::invalid_argument("config.attention_dropout must be in [0, 1)");
  if (!(initializer_range > 0)) throw std::invalid_argument("config.initializer_range must be > 0");
  if (pad_token_id < 0 || pad_token_id >= vocab_size) throw std::invalid_argument("config.pad_token_id must be in [0, vocab_size)");
  if (copy_from < 0 || copy_from >= max_position_embeddings)
    throw std::invalid_argument("config.copy_from must be in [0, max_position_embeddings = " + std::to_string(max_position_embeddings) + "), got " + std::to_string(copy_from));
  if (length_classes < 0) throw std::invalid_argument("config.length_classes must be >= 0");
  if (activation != "gelu" && activation != "relu")
    throw std::invalid_argument("config.activation '" + activation + "' is not supported (gelu or relu)");
}

void fill_sinusoidal_embeddings(torch::Tensor weight) {
  torch::NoGradGuard no_grad;
  const int64_t n_pos = weight.size(0), dim = weight.size(1);
  // position / 10000^(2*(j//2)/dim), sin on even columns, cos on odd, computed in double.
  auto pos = torch::arange(n_pos, torch::kFloat64).unsqueeze(1);
  auto j = torch::arange(dim, torch::kFloat64);
  auto angle = pos / torch::pow(10000.0, 2.0 * torch::floor(j / 2) / static_cast<double>(dim));
  auto table = torch::empty({n_pos, dim}, torch::kFloat64);
  using torch::indexing::Slice;
  table.index_put_({Slice(), Slice(0, torch::indexing::None, 2)}, torch::sin(angle.index({Slice(), Slice(0, torch::indexing::None, 2)})));
  table.index_put_({Slice(), Slice(1, torch::indexing::None, 2)}, torch::cos(angle.index({Slice(), Slice(1, torch::indexing::None, 2)})));
  weight.copy_(table.to(weight.dtype()));
  weight.set_requires_grad(false);
}

EmbeddingsImpl::EmbeddingsImpl(const DistilBertConfig& c) {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.dim).padding_idx(c.pad_token_id)));
  position_embeddings = register_module("position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.dim));
  LayerNorm = register_module("LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(1e-12)));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  const int64_t seq_len = input_ids.size(1);
  auto position_ids = torch::arange(seq_len, input_ids.options().dtype(torch::kLong)).unsqueeze(0);
  auto x = word_embeddings->forward(input_ids) + position_embeddings->forward(position_ids);
  return dropout->forward(LayerNorm->forward(x));
}

MultiHeadSelfAttentionImpl::MultiHeadSelfAttentionImpl(const DistilBertConfig& c)
    : n_heads(c.n_heads), dim(c.dim), attention_dropout(c.attention_dropout) {
  q_lin = register_module("q_lin", torch::nn::Linear(c.dim, c.dim));
  k_lin = register_module("k_lin", torch::nn::Linear(c.dim, c.dim));
  v_lin = register_module("v_lin", torch::nn::Linear(c.dim, c.dim));
  out_lin = register_module("out_lin", torch::nn::Linear(c.dim, c.dim));
}

torch::Tensor MultiHeadSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& keep) {
  const int64_t B = x.size(0), T = x.size(1), dh = dim / n_heads;
  auto heads = [&](const torch::Tensor& t) { return t.view({B, T, n_heads, dh}).transpose(1, 2); };
  auto q = heads(q_lin->forward(x)), k = heads(k_lin->forward(x)), v = heads(v_lin->forward(x));
  // An undefined keep means nothing is padded: no mask, so that 2.x may pick the flash kernel.
  c10::optional<torch::Tensor> mask;
  if (keep.defined()) mask = keep;
  auto ctx = compat::scaled_dot_product_attention(q, k, v, mask, is_training() ? attention_dropout : 0.0, false);
  return out_lin->forward(ctx.transpose(1, 2).reshape({B, T, dim}));
}

FFNImpl::FFNImpl(const DistilBertConfig& c) : relu(c.activation == "relu") {
  lin1 = register_module("lin1", torch::nn::Linear(c.dim, c.hidden_dim));
  lin2 = register_module("lin2", torch::nn::Linear(c.hidden_dim, c.dim));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
}

torch::Tensor FFNImpl::forward(const torch::Tensor& x) {
  auto h = lin1->forward(x);
  h = relu ? torch::relu(h) : torch::gelu(h);  // exact (erf) GELU, as HF's "gelu"
  return dropout->forward(lin2->forward(h));
}

TransformerBlockImpl::TransformerBlockImpl(const DistilBertConfig& c) {
  attention = register_module("attention", MultiHeadSelfAttention(c));
  sa_layer_norm = register_module("sa_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(1e-12)));
  ffn = register_module("ffn", FFN(c));
  output_layer_norm = register_module("output_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(1e-12)));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& keep) {
  // Post-LN, as DistilBERT: residual first, then LayerNorm.
  auto sa = sa_layer_norm->forward(attention->forward(x, keep) + x);
  return output_layer_norm->forward(ffn->forward(sa) + sa);
}

TransformerImpl::TransformerImpl(const DistilBertConfig& c) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layers; ++i) layer->push_back(TransformerBlock(c));
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const torch::Tensor& keep, int64_t layers) {
  const int64_t n = layers > 0 ? std::min<int64_t>(layers, static_cast<int64_t>(layer->size())) : static_cast<int64_t>(layer->size());
  for (int64_t i = 0; i < n; ++i) x = layer[i]->as<TransformerBlock>()->forward(x, keep);
  return x;
}

DistilBertModelImpl::DistilBertModelImpl(const DistilBertConfig& c) {
  embeddings = register_module("embeddings", Embeddings(c));
  transformer = register_module("transformer", Transformer(c));
}

torch::Tensor DistilBertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t layers) {
  auto x = embeddings->forward(input_ids);
  return transformer->forward(x, attention_keep(attention_mask, input_ids.size(0), input_ids.size(1)), layers);
}

torch::Tensor attention_keep(const torch::Tensor& attention_mask, int64_t B, int64_t T) {
  // No mask (undefined) when nothing is padded: callers that know it from the host batch pass none;
  // on the CPU a look costs nothing, while on a GPU it would be a host sync, so a device mask is
  // kept as given.
  torch::Tensor keep;
  if (attention_mask.defined() && !(attention_mask.device().is_cpu() && attention_mask.ne(0).all().item<bool>()))
    keep = attention_mask.ne(0).view({B, 1, 1, T});
  return keep;
}

TiedProjectionImpl::TiedProjectionImpl(int64_t vocab_size) {
  bias = register_parameter("bias", torch::zeros({vocab_size}));
}

torch::Tensor TiedProjectionImpl::forward(const torch::Tensor& x, const torch::Tensor& weight) {
  return F::linear(x, weight, bias);
}

DistilBertForMaskedLMImpl::DistilBertForMaskedLMImpl(const DistilBertConfig& c) : config(c) {
  config.validate();
  distilbert = register_module("distilbert", DistilBertModel(c));
  vocab_transform = register_module("vocab_transform", torch::nn::Linear(c.dim, c.dim));
  vocab_layer_norm = register_module("vocab_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim}).eps(1e-12)));
  vocab_projector = register_module("vocab_projector", TiedProjection(c.vocab_size));
  if (c.length_classes > 0) length_head = register_module("length_head", torch::nn::Linear(c.dim, c.length_classes));
  if (c.score_head) {
    pre_classifier = register_module("pre_classifier", torch::nn::Linear(c.dim, c.dim));
    classifier = register_module("classifier", torch::nn::Linear(c.dim, 1));
  }
  if (c.pool_tower_layers > 0) {
    auto tc = c;
    tc.n_layers = c.pool_tower_layers;
    pool_tower = register_module("pool_tower", Transformer(tc));
  }
  if (c.copy_from > 0) {
    copy_query = register_module("copy_query", torch::nn::Linear(c.dim, c.dim));
    copy_key = register_module("copy_key", torch::nn::Linear(c.dim, c.dim));
    copy_gate = register_module("copy_gate", torch::nn::Linear(c.dim, 1));
  }
  reset_parameters();
}

torch::Tensor DistilBertForMaskedLMImpl::pooled_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  c10::optional<torch::NoGradGuard> no_grad;
  if (config.pool_stop_gradient) no_grad.emplace();
  auto h = hidden_states(input_ids, attention_mask, config.pool_layers);
  no_grad.reset();  // the tower itself learns
  if (!pool_tower) return h;
  return pool_tower->forward(h, attention_keep(attention_mask, input_ids.size(0), input_ids.size(1)));
}

torch::Tensor DistilBertForMaskedLMImpl::scores(const torch::Tensor& hidden) {
  TORCH_CHECK(pre_classifier, "this model has no score head (config score_head is false)");
  auto x = torch::relu(pre_classifier->forward(hidden.select(1, 0)));
  x = torch::dropout(x, config.seq_classif_dropout, is_training());
  return classifier->forward(x).squeeze(-1);
}

torch::Tensor DistilBertForMaskedLMImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  auto hidden = hidden_states(input_ids, attention_mask);
  if (!has_copy_head()) return mlm_logits(hidden);
  const int64_t B = hidden.size(0), T = hidden.size(1);
  auto src = copy_source(hidden, input_ids, attention_mask);
  auto all = torch::arange(B * T, input_ids.options().dtype(torch::kLong));
  return mlm_logits(hidden.reshape({B * T, -1}), &src, all).view({B, T, -1});
}

// Every position's attention scores over its row, [B, T, T] (B * T * T values: far smaller than
// gathering each predicted position's [T, dim] keys). Positions that may not be copied get -1e9,
// not -inf, so that a row with nothing to copy stays finite (it is replaced in mlm_logits).
CopySource DistilBertForMaskedLMImpl::copy_source(const torch::Tensor& hidden, const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  CopySource s;
  if (!has_copy_head()) return s;
  const int64_t B = hidden.size(0), T = hidden.size(1);
  s.ids = input_ids.to(torch::kLong);
  s.keep = (torch::arange(T, s.ids.options()) >= config.copy_from).unsqueeze(0).expand({B, T});
  if (attention_mask.defined()) s.keep = s.keep & attention_mask.ne(0);
  auto q = copy_query->forward(hidden).to(torch::kFloat32), k = copy_key->forward(hidden).to(torch::kFloat32);
  auto scores = torch::bmm(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(config.dim));
  s.scores = scores.masked_fill(s.keep.logical_not().unsqueeze(1), -1e9).reshape({B * T, T});
  return s;
}

// The copy head, in float32 and in log space so that nothing is ever log(0):
//   p(w) = (1 - g) softmax(vocab)(w) + g * sum of attention a_j over the copyable positions j whose
//   token is w, with g = sigmoid(gate(h)) and a = softmax_j(q(h) . k_j / sqrt(dim)).
// A row with nothing copyable gets the vocabulary alone.
torch::Tensor DistilBertForMaskedLMImpl::mlm_logits(const torch::Tensor& hidden, const CopySource* src, const torch::Tensor& positions) {
  auto h = vocab_transform->forward(hidden);
  h = config.activation == "relu" ? torch::relu(h) : torch::gelu(h);
  h = vocab_layer_norm->forward(h);
  auto logits = vocab_projector->forward(h, distilbert->embeddings->word_embeddings->weight);
  if (!has_copy_head()) return logits;
  auto vocab_logp = torch::log_softmax(logits.to(torch::kFloat32), -1);
  if (!src || !src->scores.defined()) return vocab_logp;
  TORCH_CHECK(hidden.dim() == 2 && positions.defined() && positions.size(0) == hidden.size(0), "mlm_logits: copying needs hidden [N, dim] and the flat position of each");
  const int64_t T = src->ids.size(1);
  auto rows = torch::div(positions, T, "floor");
  auto keep = src->keep.index_select(0, rows);  // [N, T]
  auto attn = torch::softmax(src->scores.index_select(0, positions), -1) * keep;
  auto copy_p = torch::zeros_like(vocab_logp).scatter_add(1, src->ids.index_select(0, rows), attn);
  auto gate = copy_gate->forward(hidden).to(torch::kFloat32);  // [N, 1]
  auto mixed = torch::logaddexp(torch::log_sigmoid(-gate) + vocab_logp, torch::log_sigmoid(gate) + torch::log(copy_p.clamp_min(1e-30)));
  return torch::where(keep.any(1, /*keepdim=*/true), mixed, vocab_logp);
}

void DistilBertForMaskedLMImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  const double std = config.initializer_range;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      lin->weight.normal_(0, std);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* emb = m->as<torch::nn::Embedding>()) {
      emb->weight.normal_(0, std);
      if (emb->options.padding_idx().has_value()) emb->weight[*emb->options.padding_idx()].zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
  vocab_projector->bias.zero_();
  if (config.sinusoidal_pos_embds) fill_sinusoidal_embeddings(distilbert->embeddings->position_embeddings->weight);
}

}  // namespace chatbert
