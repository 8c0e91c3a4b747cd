// libFuzzer harness for the safetensors header parser (see fuzz/README.md).
// Any input must either be rejected with safetensors::Error or parse into a
// header whose every tensor lies inside the input; the sanitizers catch the
// rest (out-of-bounds reads, overflow UB, leaks, stack exhaustion).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../native/io/json.h"
#include "../native/io/safetensors.h"

namespace st = chatbert::safetensors;
namespace json = chatbert::json;

// The generic DOM parser (not used by parse_header, which streams): whatever
// it accepts must survive dump -> parse -> dump unchanged.
static void check_json(const uint8_t* data, size_t size) {
  json::Value v;
  try {
    v = json::parse(reinterpret_cast<const char*>(data), size);
  } catch (const json::ParseError&) {
    return;
  }
  std::string once = json::dump(v);
  std::string twice = json::dump(json::parse(once));
  if (once != twice) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8) check_json(data + 8, size - 8);

  st::Header h;
  try {
    h = st::parse_header(data, size, "fuzz");
  } catch (const st::Error&) {
    return 0;  // rejection is the expected outcome for most inputs
  }
  // Parsed: every promise parse_header makes must hold.
  uint64_t covered = 0;
  for (const auto& t : h.tensors) {
    if (t.begin != covered || t.end < t.begin) std::abort();
    if (static_cast<uint64_t>(t.numel()) * st::dtype_size(t.dtype) != t.end - t.begin) std::abort();
    if (h.data_offset + t.end > size) std::abort();
    // Touch every byte so ASan flags any range that escapes the buffer.
    const uint8_t* p = data + h.data_offset + t.begin;
    volatile uint8_t acc = 0;
    for (uint64_t i = 0; i < t.end - t.begin; ++i) acc = acc ^ p[i];
    (void)acc;
    covered = t.end;
    if (h.find(t.name) == nullptr) std::abort();
  }
  if (h.data_offset + covered != size) std::abort();

  // Re-serializing what we parsed must give a file that parses to the same
  // header (exercises the writer on adversarial names and metadata).
  std::vector<st::TensorView> views;
  for (const auto& t : h.tensors)
    views.push_back({t.name, t.dtype, t.shape, data + h.data_offset + t.begin, static_cast<size_t>(t.end - t.begin)});
  std::vector<uint8_t> again = st::serialize(views, h.metadata);
  st::Header h2 = st::parse_header(again.data(), again.size());
  if (h2.tensors.size() != h.tensors.size() || h2.metadata != h.metadata) std::abort();
  for (const auto& t : h.tensors) {
    const st::TensorInfo* t2 = h2.find(t.name);
    if (!t2 || t2->dtype != t.dtype || t2->shape != t.shape || t2->end - t2->begin != t.end - t.begin) std::abort();
  }
  return 0;
}
