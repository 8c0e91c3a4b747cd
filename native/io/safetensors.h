// safetensors reader and writer that trusts nothing in the file.
//
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON header
// (padded with spaces), then the data section. The header maps tensor names
// to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
// data section) plus an optional "__metadata__" string->string map.
//
// No LibTorch dependency, so it builds in seconds and can be fuzzed alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace chatbert {
namespace safetensors {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
// Unknown names (including valid safetensors dtypes we do not support, such
// as U16 or F8_E4M3) throw Error.
DType parse_dtype(const std::string& name);

// Limits enforced by the reader (same as the reference implementation).
constexpr uint64_t kMaxHeaderSize = 100000000;
// Longest array accepted in a header, i.e. the maximum tensor rank. Far above
// any real model; bounds parse memory on hostile input.
constexpr size_t kMaxRank = 1024;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // offsets into the data section
  // Product of shape (1 for a scalar). Throws Error on overflow, which cannot
  // happen for a TensorInfo produced by parse_header.
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct Header {
  // Sorted by data offset (begin, then end, then name), i.e. file order.
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // 8 + header length
  // Linear scan; nullptr if absent.
  const TensorInfo* find(const std::string& name) const;
};

// Parses and fully validates a whole file held in memory. `what` (usually
// the path) prefixes every error message. After success every tensor's
// [data_offset + begin, data_offset + end) lies inside [0, size).
Header parse_header(const uint8_t* bytes, size_t size, const std::string& what = "");

// Validates a file on disk reading only its 8-byte length and header (the
// data section is checked against the file size, not read). For inspecting
// large files cheaply. Optionally returns the file size.
Header read_header(const std::string& path, uint64_t* file_size = nullptr);

class File {
 public:
  // Reads the whole file into memory and validates it. Throws Error naming
  // the path for missing, unreadable or invalid files.
  static File open(const std::string& path);
  // Same, for bytes already in memory (tests, fuzzing).
  static File from_bytes(std::vector<uint8_t> bytes, const std::string& what = "");

  const Header& header() const { return header_; }
  // Start of the tensor's bytes (nbytes() long). Throws Error if `info` does
  // not lie inside this file (e.g. it came from another File).
  const uint8_t* data(const TensorInfo& info) const;
  const std::string& path() const { return path_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  File() = default;
  std::string path_;
  std::vector<uint8_t> bytes_;
  Header header_;
};

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Produces the same bytes as the Python library for the same input: tensors
// ordered by dtype (largest alignment first, so every tensor stays aligned
// to its element size once the data section is 8-aligned) and then by name,
// header keys in that order after "__metadata__" (emitted only when
// non-empty, with keys sorted), compact JSON, header padded with spaces to a
// multiple of 8. Validates names (non-empty, valid UTF-8, unique, not
// "__metadata__"), dims (>= 0, no overflow) and nbytes == numel * itemsize.
std::vector<uint8_t> serialize(const std::vector<TensorView>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

// Writes serialize()'s bytes atomically: to "<path>.tmp-<pid>", flushed and
// fsynced, then renamed over `path`; the temp file is removed on failure.
void write_file(const std::string& path, const std::vector<TensorView>& tensors,
                const std::map<std::string, std::string>& metadata = {});

// Element conversions for the torch glue. float -> 16-bit rounds to nearest
// even; NaN stays NaN (quiet), infinities and signed zeros are kept.
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);
float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);

}  // namespace safetensors
}  // namespace chatbert
