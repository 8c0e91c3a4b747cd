// DistilBERT as in Hugging Face's modeling_distilbert.py: the same modules under the same names, so
// that named_parameters() yields the checkpoint tensor names one to one
// ("distilbert.transformer.layer.0.attention.q_lin.weight", ..., "vocab_projector.bias").
#pragma once
#include <torch/torch.h>

#include <string>

namespace chatbert {

struct DistilBertConfig {
  int64_t vocab_size = 30522;
  int64_t dim = 768;
  int64_t n_layers = 6;
  int64_t n_heads = 12;
  int64_t hidden_dim = 3072;
  int64_t max_position_embeddings = 512;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  bool sinusoidal_pos_embds = false;
  double initializer_range = 0.02;
  int64_t pad_token_id = 0;
  std::string activation = "gelu";
  // ChatBERT extension: classes of the response-length head on the [CLS] state (0 = no head).
  int64_t length_classes = 0;
  // ChatBERT-RA's cross-encoder: a score head on the [CLS] state, laid out as Hugging Face's
  // DistilBertForSequenceClassification with one label (pre_classifier, ReLU, dropout, classifier).
  bool score_head = false;
  double seq_classif_dropout = 0.2;
  // ChatBERT extension: pooled encodings (the bi-encoder: encode_pooled) read the output of the first
  // pool_layers transformer layers (0 = all). ChatBERT-IMR's bi-encoder pools below the top layer,
  // which stays the masked-token predictor's alone.
  int64_t pool_layers = 0;
  // ChatBERT extension: a tower of pool_tower_layers transformer layers of its own between those
  // states and the pooling (0 = none), and pool_stop_gradient to keep the bi-encoder's gradient out
  // of the body: the masked-token predictor then owns every shared weight, and ranking is learned by
  // the tower alone (tiny IMR models cannot hold both objectives in one encoder: bench/RESULTS.md).
  int64_t pool_tower_layers = 0;
  bool pool_stop_gradient = false;
  // ChatBERT extension: a copy head (pointer-generator, See et al. 2017) when > 0. Each predicted
  // position mixes the vocabulary distribution with an attention over the input positions from
  // copy_from on (ChatBERT-IMR: the context after [CLS] slot [SEP]), so that a value the context
  // names ("pizza", "kenya") can be copied by pointing at it instead of being regenerated from
  // the vocabulary, where the frequent value wins. The head then returns log-probabilities.
  int64_t copy_from = 0;

  // Throws std::invalid_argument naming the first offending field.
  void validate() const;
};

struct EmbeddingsImpl : torch::nn::Module {
  explicit EmbeddingsImpl(const DistilBertConfig& c);
  torch::Tensor forward(const torch::Tensor& input_ids);

  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(Embeddings);

struct MultiHeadSelfAttentionImpl : torch::nn::Module {
  explicit MultiHeadSelfAttentionImpl(const DistilBertConfig& c);
  // x: [B, T, dim]; keep: [B, 1, 1, T] boolean, true = attend; undefined = attend everywhere.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep);

  int64_t n_heads, dim;
  double attention_dropout;
  torch::nn::Linear q_lin{nullptr}, k_lin{nullptr}, v_lin{nullptr}, out_lin{nullptr};
};
TORCH_MODULE(MultiHeadSelfAttention);

struct FFNImpl : torch::nn::Module {
  explicit FFNImpl(const DistilBertConfig& c);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear lin1{nullptr}, lin2{nullptr};
  torch::nn::Dropout dropout{nullptr};
  bool relu;
};
TORCH_MODULE(FFN);

struct TransformerBlockImpl : torch::nn::Module {
  explicit TransformerBlockImpl(const DistilBertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep);

  MultiHeadSelfAttention attention{nullptr};
  torch::nn::LayerNorm sa_layer_norm{nullptr};
  FFN ffn{nullptr};
  torch::nn::LayerNorm output_layer_norm{nullptr};
};
TORCH_MODULE(TransformerBlock);

// The attention mask as the layers take it: [B, 1, 1, T] boolean, or undefined where nothing is
// padded (decided once per forward; on a GPU the mask is kept as given, a look would sync).
torch::Tensor attention_keep(const torch::Tensor& attention_mask, int64_t B, int64_t T);

struct TransformerImpl : torch::nn::Module {
  explicit TransformerImpl(const DistilBertConfig& c);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& keep, int64_t layers = 0);

  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(Transformer);

struct DistilBertModelImpl : torch::nn::Module {
  explicit DistilBertModelImpl(const DistilBertConfig& c);
  // input_ids [B, T] (int32 or int64), attention_mask [B, T] (any integer/bool dtype, 1 = attend,
  // or undefined for all ones) -> last_hidden_state [B, T, dim].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t layers = 0);

  Embeddings embeddings{nullptr};
  Transformer transformer{nullptr};
};
TORCH_MODULE(DistilBertModel);

// The MLM head's output projection shares its weight with the word embeddings (HF ties them), so
// only its bias is a parameter of its own.
struct TiedProjectionImpl : torch::nn::Module {
  explicit TiedProjectionImpl(int64_t vocab_size);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight);
  torch::Tensor bias;
};
TORCH_MODULE(TiedProjection);

// What the copy head attends over, computed once per forward: each position's attention scores
// over its row, the row's token ids and which of them may be copied.
struct CopySource {
  torch::Tensor scores;  // [B * T, T] float32: each position's attention logits over its row
  torch::Tensor ids;     // [B, T] int64
  torch::Tensor keep;    // [B, T] bool: attended and at or past copy_from
};

struct DistilBertForMaskedLMImpl : torch::nn::Module {
  explicit DistilBertForMaskedLMImpl(const DistilBertConfig& c);

  // layers > 0: the output of the first `layers` transformer layers only.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t layers = 0) {
    return distilbert->forward(input_ids, attention_mask, layers);
  }
  // MLM head over hidden states of any leading shape [..., dim] -> [..., vocab_size]. Callers that
  // need logits at a few positions gather those rows first: the vocabulary projection is most of the
  // model's FLOPs at small sizes.
  // With a copy head (config.copy_from > 0) the output is log-probabilities, not logits: with `src`
  // and `positions` (hidden [N, dim] and the flat position b * T + t of each), the vocabulary mixed
  // with copying from that row; without them (a context-free pass) the vocabulary alone. Consumers
  // that softmax, log-softmax or scale by a temperature read both alike.
  torch::Tensor mlm_logits(const torch::Tensor& hidden, const CopySource* src = nullptr, const torch::Tensor& positions = torch::Tensor());
  // The copy head's source over last hidden states [B, T, dim]; undefined scores without a copy head.
  CopySource copy_source(const torch::Tensor& hidden, const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  bool has_copy_head() const { return config.copy_from > 0; }
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  // The states pooled into a bi-encoder vector: the first pool_layers layers' output (without
  // gradient under pool_stop_gradient), then the pool tower when there is one.
  torch::Tensor pooled_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  // The score head over hidden states [B, T, dim] -> [B] (from the [CLS] state; needs score_head).
  torch::Tensor scores(const torch::Tensor& hidden);
  // Hugging Face's _init_weights: N(0, initializer_range) for Linear/Embedding weights, zero biases
  // and padding row, LayerNorm (1, 0); sinusoidal position table when configured.
  void reset_parameters();

  DistilBertConfig config;
  DistilBertModel distilbert{nullptr};
  torch::nn::Linear vocab_transform{nullptr};
  torch::nn::LayerNorm vocab_layer_norm{nullptr};
  TiedProjection vocab_projector{nullptr};
  // Optional (config.length_classes > 0): predicts the response length from the [CLS] state.
  // Not part of Hugging Face's model; transformers reports its tensors as unused and loads the rest.
  torch::nn::Linear length_head{nullptr};
  // Optional (config.score_head): the cross-encoder's score head, under Hugging Face's names.
  torch::nn::Linear pre_classifier{nullptr}, classifier{nullptr};
  // Optional (config.pool_tower_layers > 0): the bi-encoder's own layers ("pool_tower.layer.N...").
  Transformer pool_tower{nullptr};
  // Optional (config.copy_from > 0): the copy head's query and key projections and its gate
  // (the probability of copying), over the last hidden states.
  torch::nn::Linear copy_query{nullptr}, copy_key{nullptr}, copy_gate{nullptr};
};
TORCH_MODULE(DistilBertForMaskedLM);

// Fills `weight` [n_pos, dim] with the fixed sinusoidal table DistilBERT uses when
// sinusoidal_pos_embds is set.
void fill_sinusoidal_embeddings(torch::Tensor weight);

}  // namespace chatbert
