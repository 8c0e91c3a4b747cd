#include "io/checkpoint.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "io/safetensors.h"

namespace chatbert {

namespace st = chatbert::safetensors;

namespace {

torch::ScalarType to_torch(st::DType d) {
  switch (d) {
    case st::DType::F64: return torch::kFloat64;
    case st::DType::F32: return torch::kFloat32;
    case st::DType::F16: return torch::kFloat16;
    case st::DType::BF16: return torch::kBFloat16;
    case st::DType::I64: return torch::kInt64;
    case st::DType::I32: return torch::kInt32;
    case st::DType::I16: return torch::kInt16;
    case st::DType::I8: return torch::kInt8;
    case st::DType::U8: return torch::kUInt8;
    case st::DType::BOOL: return torch::kBool;
  }
  throw std::invalid_argument("unknown dtype");
}

st::DType from_torch(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64: return st::DType::F64;
    case torch::kFloat32: return st::DType::F32;
    case torch::kFloat16: return st::DType::F16;
    case torch::kBFloat16: return st::DType::BF16;
    case torch::kInt64: return st::DType::I64;
    case torch::kInt32: return st::DType::I32;
    case torch::kInt16: return st::DType::I16;
    case torch::kInt8: return st::DType::I8;
    case torch::kUInt8: return st::DType::U8;
    case torch::kBool: return st::DType::BOOL;
    default: throw std::invalid_argument(std::string("cannot store dtype ") + c10::toString(t) + " in safetensors");
  }
}

std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// A view of the file's bytes as a CPU tensor; the caller copies before the file goes away. Files
// from older writers may leave data unaligned for its dtype: those bytes are copied first.
torch::Tensor view_of(const st::File& file, const st::TensorInfo& info) {
  const auto opts = torch::TensorOptions().dtype(to_torch(info.dtype));
  const uint8_t* p = file.data(info);
  if (reinterpret_cast<uintptr_t>(p) % st::dtype_size(info.dtype) == 0) return torch::from_blob(const_cast<uint8_t*>(p), info.shape, opts);
  auto t = torch::empty(info.shape, opts);
  std::memcpy(t.data_ptr(), p, info.end - info.begin);
  return t;
}

std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : module.named_parameters(true)) state[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) state[b.key()] = b.value();
  return state;
}

}  // namespace

LoadReport load_safetensors(torch::nn::Module& module, const std::string& path, const LoadOptions& options) {
  auto file = st::File::open(path);
  auto state = module_state(module);
  LoadReport report;

  // Pass 1: match and check every tensor before touching the module.
  std::vector<std::pair<torch::Tensor, const st::TensorInfo*>> plan;
  std::set<std::string> seen;
  for (const auto& info : file.header().tensors) {
    std::string target = info.name;
    if (!state.count(target) && !options.base_prefix.empty() && state.count(options.base_prefix + info.name)) target = options.base_prefix + info.name;
    auto it = state.find(target);
    if (it == state.end()) {
      if (!options.ignore.count(info.name)) report.unexpected.push_back(info.name);
      continue;
    }
    if (seen.count(target)) throw std::runtime_error(path + ": tensor '" + target + "' appears twice (with and without the base prefix)");
    const auto& dst = it->second;
    if (dst.sizes() != c10::IntArrayRef(info.shape))
      throw std::runtime_error(path + ": tensor '" + info.name + "' has shape " + shape_str(info.shape) + " but the model expects " + shape_str(dst.sizes()));
    const bool is_float_dst = dst.is_floating_point();
    const bool is_float_src = info.dtype == st::DType::F32 || info.dtype == st::DType::F16 || info.dtype == st::DType::BF16 || info.dtype == st::DType::F64;
    if (is_float_dst != is_float_src)
      throw std::runtime_error(path + ": tensor '" + info.name + "' has dtype " + st::dtype_name(info.dtype) + ", which cannot hold " + c10::toString(dst.scalar_type()));
    seen.insert(target);
    plan.emplace_back(dst, &info);
  }
  for (const auto& kv : state) {
    if (seen.count(kv.first)) continue;
    if (options.optional.count(kv.first)) {
      report.missing.push_back(kv.first);
      continue;
    }
    throw std::runtime_error(path + ": tensor '" + kv.first + "' is missing (expected shape " + shape_str(kv.second.sizes()) + ")");
  }
  // Pass 2: copy.
  torch::NoGradGuard no_grad;
  for (auto& [dst, info] : plan) {
    auto src = view_of(file, *info);
    if (src.numel() > 0 && src.is_floating_point() && !torch::isfinite(src).all().item<bool>())
      throw std::runtime_error(path + ": tensor '" + info->name + "' holds NaN or infinite values");
    dst.copy_(src);
    report.loaded.push_back(info->name);
  }
  return report;
}

void write_tensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                   const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;  // owns the contiguous CPU copies while writing
  std::vector<st::TensorView> views;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    auto cpu = t.detach().to(torch::kCPU).contiguous();
    keep.push_back(cpu);
    st::TensorView v;
    v.name = name;
    v.dtype = from_torch(cpu.scalar_type());
    v.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
    v.data = cpu.data_ptr();
    v.nbytes = cpu.numel() * cpu.element_size();
    views.push_back(std::move(v));
  }
  st::write_file(path, views, metadata);
}

void save_safetensors(const torch::nn::Module& module, const std::string& path,
                      const std::map<std::string, std::string>& metadata, const std::set<std::string>& skip) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : module_state(module)) {
    if (skip.count(name)) continue;
    out[name] = t.is_floating_point() ? t.to(torch::kFloat32) : t;
  }
  write_tensors(path, out, metadata);
}

std::map<std::string, torch::Tensor> read_tensors(const std::string& path) {
  auto file = st::File::open(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& info : file.header().tensors) out[info.name] = view_of(file, info).clone();
  return out;
}

}  // namespace chatbert
