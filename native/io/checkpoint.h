// Moves module state between LibTorch and safetensors files, by Hugging Face tensor names.
#pragma once
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace chatbert {

struct LoadReport {
  std::vector<std::string> loaded;
  std::vector<std::string> unexpected;  // in the file, not in the module: reported and ignored
  std::vector<std::string> missing;     // optional tensors the file did not have
};

struct LoadOptions {
  // Module tensors that may be absent from the file (tied weights, fixed tables).
  std::set<std::string> optional;
  // File names that are known aliases and silently ignored (e.g. a tied vocab_projector.weight).
  std::set<std::string> ignore;
  // A base-model prefix: a file tensor "x" also matches module tensor prefix + "x", as HF does
  // when a DistilBertModel checkpoint is loaded into DistilBertForMaskedLM.
  std::string base_prefix;
};

// Copies every parameter and buffer of `module` from the safetensors file at `path`, converting
// dtype (F32/F16/BF16/F64) to the module's. A missing (non-optional) or misshapen tensor throws an
// error that names it; nothing is modified unless every tensor checks out.
LoadReport load_safetensors(torch::nn::Module& module, const std::string& path, const LoadOptions& options = {});

// Writes the module's parameters (and persistent buffers), minus `skip`, as float32 (or their own
// dtype when keep_dtype) to `path` atomically.
void save_safetensors(const torch::nn::Module& module, const std::string& path,
                      const std::map<std::string, std::string>& metadata, const std::set<std::string>& skip = {});

// Reads named tensors of a safetensors file as CPU tensors (for optimizer state and tests).
std::map<std::string, torch::Tensor> read_tensors(const std::string& path);
void write_tensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                   const std::map<std::string, std::string>& metadata);

}  // namespace chatbert
