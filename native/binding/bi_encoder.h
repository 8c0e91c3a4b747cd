// JS class BiEncoder: the encoder view of a DistilBertModel (ChatBERT-RA; IMR's bi-encoder) or of
// an EdModel's encoder (ChatBERT-ED's bi-encoder). Contexts and candidate
// replies go through the same DistilBERT and are pooled ([CLS] or mean) into one vector each;
// relevance is their dot product. encodeInto/search pair it with a VectorIndex so that pool
// vectors and queries stay on the model's device (no round trip through JS on a GPU).
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "binding/distilbert_model.h"
#include "binding/ed_model.h"
#include "models/pooling.h"
#include "train/contrastive.h"

namespace chatbert::js {

// A padded token batch as it arrives from JS ({ inputIds, attentionMask, batch, seqLen }),
// validated (ids inside the vocabulary, every row attends to a token) and copied on the JS thread.
struct HostTokenBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  int64_t tokens() const;
  // To the device: ids int64 [B, T], mask uint8 [B, T].
  std::pair<torch::Tensor, torch::Tensor> to(torch::Device device) const;
};
HostTokenBatch ParseTokenBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name);

// Ids and mask on the device, without the mask when nothing is padded: the attention then takes
// its fastest kernel, and pooling treats a missing mask as all ones.
std::pair<torch::Tensor, torch::Tensor> ToDeviceUnpadded(const HostTokenBatch& h, torch::Device device);

// Contexts and their replies, encoded apart (a bi-encoder batch: ChatBERT-RA's, or IMR's
// imr.bi_encoder pairs), from JS { context, candidate, keys? }.
struct HostPairBatch {
  HostTokenBatch context, candidate;
  std::vector<int32_t> keys;  // empty = no duplicate masking
};
// min_rows: in-batch negatives within the batch need 2; pairs gathered over ranks need 1.
// reply_noun names the second side in the row-count error ("candidates", "replies").
HostPairBatch ParsePairBatch(const Napi::Value& v, const DistilBertConfig& cfg, const std::string& name, int64_t min_rows, const char* reply_noun);
ContrastiveBatch ToDevice(const HostPairBatch& h, torch::Device device);

// The model one BiEncoder call encodes with: a DistilBertModel (RA, IMR's imr.bi_encoder) or an
// EdModel's encoder (ed.bi_encoder). Holds it for the call's duration.
struct PooledEncoder {
  std::shared_ptr<DistilBertState> mlm;
  std::shared_ptr<EdState> ed;
  std::mutex& mu() const { return mlm ? mlm->mu : ed->mu; }
  const DistilBertConfig& config() const { return mlm ? mlm->model->config : ed->model->encoder_config; }
  // Pooled vectors [B, dim] float32 on the model's device. The caller holds mu().
  torch::Tensor encode(const HostTokenBatch& h, Pooling pooling) const;
};

class BiEncoderWrap : public Napi::ObjectWrap<BiEncoderWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BiEncoderWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value EncodeInto(const Napi::CallbackInfo& info);
  Napi::Value Search(const Napi::CallbackInfo& info);
  Napi::Value GetPooling(const Napi::CallbackInfo& info);
  Napi::Value GetDim(const Napi::CallbackInfo& info);
  PooledEncoder model(Napi::Env env) const;  // throws once the model is disposed

  // Weak (one of the two is set): disposing the model frees it at once; in-flight calls hold their
  // own reference.
  std::weak_ptr<DistilBertState> mlm_;
  std::weak_ptr<EdState> ed_;
  Pooling pooling_ = Pooling::kMean;
  int64_t dim_ = 0;
};

}  // namespace chatbert::js
