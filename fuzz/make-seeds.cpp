// Writes the fuzz seed corpus into fuzz/seed/ using our own writer, so the
// seeds are valid files the fuzzer can mutate from.
// Build and run (from the repo root):
//   g++ -std=c++17 fuzz/make-seeds.cpp native/io/json.cpp native/io/safetensors.cpp -o /tmp/make-seeds
//   /tmp/make-seeds fuzz/seed
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "../native/io/safetensors.h"

namespace st = chatbert::safetensors;

static void put(const std::string& dir, const std::string& name, const std::vector<st::TensorView>& t,
                const std::map<std::string, std::string>& meta = {}) {
  std::vector<uint8_t> bytes = st::serialize(t, meta);
  std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
}

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "fuzz/seed";
  std::vector<uint8_t> buf(64);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 37);
  const void* d = buf.data();

  put(dir, "empty.safetensors", {});
  put(dir, "metadata_only.safetensors", {}, {{"format", "pt"}});
  put(dir, "one_f32.safetensors", {{"attn.0", st::DType::F32, {1, 2, 3}, d, 24}});
  put(dir, "mixed.safetensors",
      {{"w", st::DType::F32, {2, 2}, d, 16},
       {"ids", st::DType::I64, {2}, d, 16},
       {"h", st::DType::F16, {3}, d, 6},
       {"b", st::DType::BF16, {1}, d, 2},
       {"mask", st::DType::BOOL, {2}, d, 2},
       {"u", st::DType::U8, {1}, d, 1},
       {"i8", st::DType::I8, {1}, d, 1},
       {"i16", st::DType::I16, {1}, d, 2},
       {"i32", st::DType::I32, {1}, d, 4},
       {"f64", st::DType::F64, {1}, d, 8}},
      {{"a", "b"}, {"k\"\\\n", "\xe4\xb8\xad \xf0\x9f\x98\x80"}});
  put(dir, "zero_and_scalar.safetensors",
      {{"scalar", st::DType::F32, {}, d, 4}, {"z", st::DType::F32, {0, 5}, nullptr, 0}, {"z2", st::DType::U8, {0}, nullptr, 0}});
  put(dir, "escaped_names.safetensors",
      {{"a\x01" "b", st::DType::U8, {1}, d, 1}, {"\xc3\xa9/\\\"", st::DType::U8, {2}, d, 2}});
  return 0;
}
