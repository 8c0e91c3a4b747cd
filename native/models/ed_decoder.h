// ChatBERT-ED: DistilBERT encodes the conversation (bidirectional attention) and a small GPT-style
// decoder writes the reply, cross-attending to the encoder's states. The decoder follows nanoGPT's
// layout and Hugging Face GPT-2's names for its cross-attention parts:
//
//   decoder.wte, decoder.wpe                         token and learned position embeddings
//   decoder.h.N.ln_1, decoder.h.N.attn.c_attn/c_proj  pre-LN causal self-attention (fused q,k,v)
//   decoder.h.N.ln_cross_attn,
//   decoder.h.N.crossattention.q_attn/c_attn/c_proj   pre-LN cross-attention: q from the decoder,
//                                                     k,v (fused) projected from the encoder width
//   decoder.h.N.ln_2, decoder.h.N.mlp.c_fc/c_proj     pre-LN GELU feed-forward
//   decoder.ln_f                                      final LayerNorm; logits = ln_f(x) @ wte^T (tied)
//
// The encoder is the existing DistilBertModel, registered as "distilbert" so its tensors keep the
// names of a Hugging Face DistilBERT checkpoint.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "models/distilbert.h"
#include "models/pooling.h"

namespace chatbert {

struct EdDecoderConfig {
  int64_t vocab_size = 30522;
  int64_t n_embd = 512;
  int64_t n_layer = 4;
  int64_t n_head = 8;
  int64_t n_inner = 2048;
  int64_t n_positions = 256;
  int64_t encoder_dim = 768;  // width of the states cross-attended to
  double dropout = 0.1;
  double initializer_range = 0.02;

  // Throws std::invalid_argument naming the first offending field.
  void validate() const;
};

// Keys and values one decoder layer has seen: self-attention grows by one position per generated
// token; cross-attention is computed once per reply from the encoder states.
struct EdLayerCache {
  torch::Tensor self_k, self_v;    // [B, H, S_past, D] or undefined
  torch::Tensor cross_k, cross_v;  // [B, H, T_enc, D]
};

struct EdDecoderCache {
  std::vector<EdLayerCache> layers;
  torch::Tensor encoder_keep;  // [B, 1, 1, T_enc] bool, true = attend
  int64_t length = 0;          // decoder positions already in the self-attention cache

  // Beam search: row i of the new cache is row index[i] of the old one (self-attention only; the
  // cross-attention rows of the beams of one input are identical and stay where they are).
  void reorder(const torch::Tensor& index);
};

struct CausalSelfAttentionImpl : torch::nn::Module {
  explicit CausalSelfAttentionImpl(const EdDecoderConfig& c);
  // x [B, S, C]. With a cache, x holds the S newest positions and the cache grows by S.
  torch::Tensor forward(const torch::Tensor& x, EdLayerCache* cache);

  int64_t n_head, n_embd;
  double dropout;
  torch::nn::Linear c_attn{nullptr}, c_proj{nullptr};
  torch::nn::Dropout resid_dropout{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

struct CrossAttentionImpl : torch::nn::Module {
  explicit CrossAttentionImpl(const EdDecoderConfig& c);
  // The per-reply part: encoder states [B, T, encoder_dim] -> k, v [B, H, T, D].
  std::pair<torch::Tensor, torch::Tensor> project_encoder(const torch::Tensor& encoder_hidden);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& keep);

  int64_t n_head, n_embd;
  double dropout;
  torch::nn::Linear q_attn{nullptr}, c_attn{nullptr}, c_proj{nullptr};
  torch::nn::Dropout resid_dropout{nullptr};
};
TORCH_MODULE(CrossAttention);

struct DecoderMLPImpl : torch::nn::Module {
  explicit DecoderMLPImpl(const EdDecoderConfig& c);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(DecoderMLP);

struct DecoderBlockImpl : torch::nn::Module {
  explicit DecoderBlockImpl(const EdDecoderConfig& c);
  // Pre-LN residual block; `cache` holds this layer's cross k/v (always) and self k/v (when growing).
  torch::Tensor forward(torch::Tensor x, EdLayerCache& cache, const torch::Tensor& keep, bool use_self_cache);

  torch::nn::LayerNorm ln_1{nullptr}, ln_cross_attn{nullptr}, ln_2{nullptr};
  CausalSelfAttention attn{nullptr};
  CrossAttention crossattention{nullptr};
  DecoderMLP mlp{nullptr};
};
TORCH_MODULE(DecoderBlock);

struct EdDecoderImpl : torch::nn::Module {
  explicit EdDecoderImpl(const EdDecoderConfig& c);

  // Starts a reply: cross-attention keys/values of every layer from the encoder states, and an
  // empty self-attention cache. encoder_mask [B, T] (1 = attend) or undefined.
  EdDecoderCache start(const torch::Tensor& encoder_hidden, const torch::Tensor& encoder_mask);
  // Hidden states [B, S, n_embd] of decoder tokens input_ids [B, S] that follow the cache's
  // positions. use_self_cache = false runs the whole prefix again (input_ids from position 0) and
  // leaves the self-attention cache empty: the reference the cached path is tested against.
  torch::Tensor hidden(const torch::Tensor& input_ids, EdDecoderCache& cache, bool use_self_cache);
  // Logits over the vocabulary from hidden states of any leading shape (tied to wte).
  torch::Tensor logits(const torch::Tensor& hidden);
  // Teacher forcing: the whole decoder input at once -> hidden states [B, S, n_embd].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& encoder_hidden, const torch::Tensor& encoder_mask);

  void reset_parameters();

  EdDecoderConfig config;
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList h{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
};
TORCH_MODULE(EdDecoder);

// The whole model: "distilbert.*" (encoder) and "decoder.*".
struct EncoderDecoderImpl : torch::nn::Module {
  EncoderDecoderImpl(const DistilBertConfig& encoder_config, const EdDecoderConfig& decoder_config);
  torch::Tensor encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) { return distilbert->forward(input_ids, attention_mask); }
  // The bi-encoder view of the encoder (ed.bi_encoder): its last states pooled into one vector per
  // row [B, dim], for ranking replies by dot product with the context's.
  torch::Tensor encode_pooled(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, Pooling pooling) {
    return pool_hidden(encode(input_ids, attention_mask), attention_mask, pooling);
  }

  DistilBertConfig encoder_config;
  DistilBertModel distilbert{nullptr};
  EdDecoder decoder{nullptr};
};
TORCH_MODULE(EncoderDecoder);

}  // namespace chatbert
