// Module entry: registers the classes (one per file) and the free functions.
#include <napi.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <torch/torch.h>

#include "binding/addon.h"
#include "binding/bi_encoder.h"
#include "binding/contrastive_trainer.h"
#include "binding/mlm_score.h"
#include "binding/vector_index.h"
#include "binding/streaming_worker.h"
#include "binding/distilbert_model.h"
#include "binding/ed_generate.h"
#include "binding/ed_model.h"
#include "binding/ed_trainer.h"
#include "binding/imr_generate.h"
#include "binding/mlm_trainer.h"
#include "binding/process_group.h"
#include "binding/safetensors_functions.h"
#include "binding/train_step_check.h"
#include "binding/unmask_functions.h"
#include "binding/util.h"
#include "torch_compat.h"

namespace chatbert::js {

static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torch", compat::torch_version());
#ifdef CHATBERT_WITH_CUDA
  o.Set("cudaBuilt", true);
#else
  o.Set("cudaBuilt", false);
#endif
  const bool cuda = torch::cuda::is_available();
  o.Set("cuda", cuda);
  o.Set("cudaDeviceCount", static_cast<double>(cuda ? torch::cuda::device_count() : 0));
  o.Set("defaultDevice", cuda ? "cuda" : "cpu");
  o.Set("threads", static_cast<double>(at::get_num_threads()));
  o.Set("sdpa", compat::kHasSdpa);
  return o;
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(static_cast<int>(IntegerArg(info[0], "threads", 1, 1024)));
  return info.Env().Undefined();
}

static Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  torch::manual_seed(static_cast<uint64_t>(IntegerArg(info[0], "seed", 0, int64_t(1) << 53)));
  return info.Env().Undefined();
}

std::atomic<bool>& ShuttingDown() {
  static std::atomic<bool> flag{false};
  return flag;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  // Workers waiting for JS (streaming_worker.h) stop waiting once JS can no longer answer.
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit([] { ShuttingDown().store(true); }); });
  env.AddCleanupHook([] { ShuttingDown().store(true); });
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed, "manualSeed"));
  exports.Set("DistilBertModel", DistilBertModelWrap::Init(env));
  exports.Set("MlmTrainer", MlmTrainerWrap::Init(env));
  InitSafetensorsFunctions(env, exports);
  InitUnmaskFunctions(env, exports);
  InitImrGenerate(env, exports);
  exports.Set("EdModel", EdModelWrap::Init(env));
  exports.Set("EdTrainer", EdTrainerWrap::Init(env));
  InitEdGenerate(env, exports);
  exports.Set("BiEncoder", BiEncoderWrap::Init(env));
  exports.Set("VectorIndex", VectorIndexWrap::Init(env));
  exports.Set("ContrastiveTrainer", ContrastiveTrainerWrap::Init(env));
  InitMlmScore(env, exports);
  InitTrainStepCheck(env, exports);
  exports.Set("ProcessGroup", ProcessGroupWrap::Init(env));
  return exports;
}

}  // namespace chatbert::js

static Napi::Object InitChatbert(Napi::Env env, Napi::Object exports) { return chatbert::js::Init(env, exports); }
NODE_API_MODULE(chatbert, InitChatbert)
