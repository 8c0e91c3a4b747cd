#include "safetensors.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <system_error>
#include <unordered_set>

#include "json.h"

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX  // keep std::min/std::max usable
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <io.h>
#include <process.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

namespace chatbert {
namespace safetensors {

namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kI64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

std::string prefix_for(const std::string& what) { return what.empty() ? std::string() : what + ": "; }

// Names come from untrusted files: escape control characters and cap the
// length so an error message stays one readable line.
std::string quoted_name(const std::string& name) {
  std::string q = json::quote_for_message(name);
  return "'" + q.substr(1, q.size() - 2) + "'";
}

std::string tensor_ctx(const std::string& name) { return "tensor " + quoted_name(name) + ": "; }

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string range_str(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

std::string errno_message(int err) { return std::generic_category().message(err); }

// Element count and byte size with the same overflow rule as the reference
// reader (a running product that overflows is an error even if a later dim is
// zero). Also keeps numel within int64 so TensorInfo::numel() is exact.
bool checked_sizes(const std::vector<int64_t>& shape, DType dtype, uint64_t& numel, uint64_t& nbytes) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    uint64_t ud = static_cast<uint64_t>(d);
    if (ud != 0 && n > kI64Max / ud) return false;
    n *= ud;
  }
  uint64_t item = dtype_size(dtype);
  if (n > kU64Max / item) return false;
  numel = n;
  nbytes = n * item;
  return true;
}

// Position in the reference implementation's Dtype enum, which is ordered by
// alignment; the writer sorts by it (descending) to keep data aligned.
int alignment_rank(DType d) {
  switch (d) {
    case DType::BOOL: return 0;
    case DType::U8: return 1;
    case DType::I8: return 2;
    case DType::I16: return 5;
    case DType::F16: return 7;
    case DType::BF16: return 8;
    case DType::I32: return 9;
    case DType::F32: return 11;
    case DType::F64: return 12;
    case DType::I64: return 13;
  }
  return -1;
}

}  // namespace

// ---------------------------------------------------------------- dtypes

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  throw Error("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  throw Error("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

DType parse_dtype(const std::string& name) {
  static const DType all[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                              DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};
  for (DType d : all)
    if (name == dtype_name(d)) return d;
  throw Error("unknown dtype " + quoted_name(name) +
              " (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

int64_t TensorInfo::numel() const {
  uint64_t n, b;
  if (!checked_sizes(shape, dtype, n, b))
    throw Error(tensor_ctx(name) + "shape " + shape_str(shape) + " is negative or overflows");
  return static_cast<int64_t>(n);
}

const TensorInfo* Header::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// ---------------------------------------------------------------- reader

namespace {

// The header is read with a pull parser against the known schema, so it is
// validated as it is read: the first bad entry stops the parse, and memory
// is only what the result needs (no parse tree of a hostile 100 MB header).

bool number_as_int64(const std::string& text, int64_t& out) { return json::Value::number_text(text).as_int64(out); }
bool number_as_uint64(const std::string& text, uint64_t& out) { return json::Value::number_text(text).as_uint64(out); }

// Names the JSON type for "is X, expected Y" messages.
const char* type_word(json::Value::Type t) {
  switch (t) {
    case json::Value::Type::Null: return "null";
    case json::Value::Type::Bool: return "a boolean";
    case json::Value::Type::Number: return "a number";
    case json::Value::Type::String: return "a string";
    case json::Value::Type::Array: return "an array";
    case json::Value::Type::Object: return "an object";
  }
  return "unknown";
}

TensorInfo read_tensor_entry(json::Reader& r, const std::string& name, const std::string& pre) {
  const std::string ctx = pre + tensor_ctx(name);
  if (r.peek() != json::Value::Type::Object)
    throw Error(ctx + "entry is " + type_word(r.peek()) + ", not an object");

  TensorInfo info;
  info.name = name;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  std::string key;
  r.begin_object();
  while (r.next_key(key)) {
    if (key == "dtype") {
      if (have_dtype) throw Error(ctx + "duplicate key 'dtype'");
      have_dtype = true;
      if (r.peek() != json::Value::Type::String) throw Error(ctx + "'dtype' is not a string");
      std::string dt = r.read_string();
      try {
        info.dtype = parse_dtype(dt);
      } catch (const Error& e) {
        throw Error(ctx + e.what());
      }
    } else if (key == "shape") {
      if (have_shape) throw Error(ctx + "duplicate key 'shape'");
      have_shape = true;
      if (r.peek() != json::Value::Type::Array) throw Error(ctx + "'shape' is not an array");
      r.begin_array();
      for (size_t i = 0; r.next_element(); ++i) {
        int64_t d = -1;
        std::string shown = "not a number";
        if (r.peek() == json::Value::Type::Number) {
          shown = r.read_number();
          if (!number_as_int64(shown, d)) d = -1;
        }
        if (d < 0)
          throw Error(ctx + "shape[" + std::to_string(i) + "] is " + shown + "; dims must be non-negative integers");
        info.shape.push_back(d);
      }
    } else if (key == "data_offsets") {
      if (have_offsets) throw Error(ctx + "duplicate key 'data_offsets'");
      have_offsets = true;
      if (r.peek() != json::Value::Type::Array) throw Error(ctx + "'data_offsets' must be an array [begin, end]");
      r.begin_array();
      uint64_t v[2] = {0, 0};
      size_t count = 0;
      while (r.next_element()) {
        if (count == 2) throw Error(ctx + "'data_offsets' must be an array [begin, end]");
        if (r.peek() != json::Value::Type::Number || !number_as_uint64(r.read_number(), v[count]))
          throw Error(ctx + "'data_offsets' must hold two non-negative 64-bit integers");
        ++count;
      }
      if (count != 2) throw Error(ctx + "'data_offsets' must be an array [begin, end]");
      info.begin = v[0];
      info.end = v[1];
    } else {
      throw Error(ctx + "unexpected key " + quoted_name(key) + " (allowed: dtype, shape, data_offsets)");
    }
  }
  if (!have_dtype) throw Error(ctx + "missing 'dtype'");
  if (!have_shape) throw Error(ctx + "missing 'shape'");
  if (!have_offsets) throw Error(ctx + "missing 'data_offsets'");

  if (info.end < info.begin)
    throw Error(ctx + "data_offsets " + range_str(info.begin, info.end) + " end before they begin");
  uint64_t numel, nbytes;
  if (!checked_sizes(info.shape, info.dtype, numel, nbytes))
    throw Error(ctx + "shape " + shape_str(info.shape) + " of " + dtype_name(info.dtype) +
                " overflows 64-bit size arithmetic");
  uint64_t held = info.end - info.begin;
  if (held != nbytes)
    throw Error(ctx + "data_offsets " + range_str(info.begin, info.end) + " hold " + std::to_string(held) +
                " bytes but shape " + shape_str(info.shape) + " of " + dtype_name(info.dtype) + " needs " +
                std::to_string(nbytes));
  return info;
}

void read_metadata(json::Reader& r, std::map<std::string, std::string>& out, const std::string& pre) {
  json::Value::Type t = r.peek();
  if (t == json::Value::Type::Null) {  // the reference reader accepts null
    r.read_value();
    return;
  }
  if (t != json::Value::Type::Object) throw Error(pre + "'__metadata__' is not an object of strings");
  std::string key;
  r.begin_object();
  while (r.next_key(key)) {
    if (r.peek() != json::Value::Type::String)
      throw Error(pre + "'__metadata__' value for key " + quoted_name(key) + " is not a string");
    std::string value = r.read_string();
    if (!out.emplace(key, std::move(value)).second)
      throw Error(pre + "duplicate '__metadata__' key " + quoted_name(key));
  }
}

}  // namespace

namespace {

// Validates a file of `file_size` bytes of which the first `available` are in
// `bytes`. Only the 8-byte length and the header itself are ever read, so a
// header-only prefix is enough (read_header); everything after that is
// checked against file_size alone.
Header parse_prefix(const uint8_t* bytes, size_t available, uint64_t file_size, const std::string& what) {
  const std::string pre = prefix_for(what);
  if (file_size < 8)
    throw Error(pre + "file is " + std::to_string(file_size) +
                " bytes, too short for the 8-byte header length (truncated or not a safetensors file)");
  if (bytes == nullptr || available < 8) throw Error(pre + "header length was not read");

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  const uint64_t after = file_size - 8;
  if (n > kMaxHeaderSize)
    throw Error(pre + "header length " + std::to_string(n) + " exceeds the limit of " +
                std::to_string(kMaxHeaderSize) + " bytes (corrupt or not a safetensors file)");
  if (n > after)
    throw Error(pre + "header length " + std::to_string(n) + " is larger than the " + std::to_string(after) +
                " bytes that follow it (file truncated or not a safetensors file)");
  if (n == 0) throw Error(pre + "header is empty (header length is 0)");
  if (available - 8 < n) throw Error(pre + "header was not fully read");

  const char* text = reinterpret_cast<const char*>(bytes + 8);
  const size_t len = static_cast<size_t>(n);
  // Writers always emit an object first; reject leading junk (e.g. a BOM).
  if (text[0] != '{') throw Error(pre + "header does not start with '{' (not a safetensors file?)");

  Header h;
  h.data_offset = 8 + n;
  try {
    // A valid header nests exactly 3 deep (object > entry > shape/offsets)
    // and its arrays are short.
    json::ParseOptions opt;
    opt.max_depth = 3;
    opt.max_array_length = kMaxRank;
    json::Reader r(text, len, opt);
    std::unordered_set<std::string> names;
    bool have_metadata = false;
    std::string key;
    r.begin_object();
    while (r.next_key(key)) {
      if (key == "__metadata__") {
        if (have_metadata) throw Error(pre + "duplicate '__metadata__'");
        have_metadata = true;
        read_metadata(r, h.metadata, pre);
        continue;
      }
      if (!names.insert(key).second) throw Error(pre + "duplicate tensor name " + quoted_name(key));
      h.tensors.push_back(read_tensor_entry(r, key, pre));
    }
    r.end();
  } catch (const json::ParseError& e) {
    throw Error(pre + "header is not valid JSON: " + e.detail() + " (header byte " + std::to_string(e.offset()) +
                ", file offset " + std::to_string(e.offset() + 8) + ")");
  }

  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });

  const uint64_t data_size = after - n;
  uint64_t expected = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.begin < expected)
      throw Error(pre + tensor_ctx(t.name) + "data_offsets " + range_str(t.begin, t.end) + " overlap tensor " +
                  quoted_name(prev->name) + " at " + range_str(prev->begin, prev->end));
    if (t.begin > expected)
      throw Error(pre + tensor_ctx(t.name) + "data_offsets " + range_str(t.begin, t.end) + " leave a gap of " +
                  std::to_string(t.begin - expected) + " bytes after offset " + std::to_string(expected) +
                  " (tensor data must be contiguous from 0)");
    if (t.end > data_size)
      throw Error(pre + tensor_ctx(t.name) + "data_offsets " + range_str(t.begin, t.end) + " run past the " +
                  std::to_string(data_size) + "-byte data section (file truncated?)");
    expected = t.end;
    prev = &t;
  }
  if (expected != data_size)
    throw Error(pre + "tensors cover " + std::to_string(expected) + " bytes but the data section holds " +
                std::to_string(data_size) + " (" + std::to_string(data_size - expected) +
                " unaccounted trailing bytes)");
  return h;
}

}  // namespace

Header parse_header(const uint8_t* bytes, size_t size, const std::string& what) {
  return parse_prefix(bytes, size, size, what);
}

// ---------------------------------------------------------------- File

File File::from_bytes(std::vector<uint8_t> bytes, const std::string& what) {
  File f;
  f.path_ = what;
  f.bytes_ = std::move(bytes);
  f.header_ = parse_header(f.bytes_.data(), f.bytes_.size(), what);
  return f;
}

namespace {

struct FileCloser {
  void operator()(std::FILE* fp) const { std::fclose(fp); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// Opens a regular file for reading; the errors name the path.
FilePtr open_for_read(const std::string& path, uint64_t& size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(fs::path(path), ec);
  if (!fs::exists(st))
    throw Error("cannot open safetensors file '" + path + "': " + (ec ? ec.message() : errno_message(ENOENT)));
  if (ec) throw Error("cannot open safetensors file '" + path + "': " + ec.message());
  if (!fs::is_regular_file(st)) throw Error("cannot open safetensors file '" + path + "': not a regular file");
  uintmax_t sz = fs::file_size(fs::path(path), ec);
  if (ec) throw Error("cannot open safetensors file '" + path + "': " + ec.message());
  FilePtr fp(std::fopen(path.c_str(), "rb"));
  if (!fp) {
    int err = errno;
    throw Error("cannot open safetensors file '" + path + "': " + errno_message(err));
  }
  size = static_cast<uint64_t>(sz);
  return fp;
}

// Reads exactly n bytes or throws.
void read_exact(std::FILE* fp, uint8_t* out, size_t n, const std::string& path) {
  errno = 0;
  size_t got = std::fread(out, 1, n, fp);
  if (got != n) {
    int err = errno;
    throw Error("cannot read safetensors file '" + path + "': " +
                (std::ferror(fp) ? errno_message(err)
                                 : std::string("unexpected end of file (file changed while reading?)")));
  }
}

}  // namespace

Header read_header(const std::string& path, uint64_t* file_size) {
  uint64_t size = 0;
  FilePtr fp = open_for_read(path, size);
  if (file_size) *file_size = size;
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(size, 8)));
  read_exact(fp.get(), head.data(), head.size(), path);
  if (head.size() == 8) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | head[i];
    // Read the header only when its length is plausible; otherwise
    // parse_prefix reports the bad length from the 8 bytes we have.
    if (n <= kMaxHeaderSize && n <= size - 8) {
      head.resize(8 + static_cast<size_t>(n));
      read_exact(fp.get(), head.data() + 8, static_cast<size_t>(n), path);
    }
  }
  return parse_prefix(head.data(), head.size(), size, path);
}

File File::open(const std::string& path) {
  uint64_t size_hint = 0;
  FilePtr fp = open_for_read(path, size_hint);
  std::vector<uint8_t> bytes;
  try {
    // Read until EOF rather than trusting the size: the file may change
    // between stat and read, and parse_header validates whatever we got.
    if (size_hint < std::numeric_limits<size_t>::max() / 2) bytes.reserve(static_cast<size_t>(size_hint) + 1);
    const size_t chunk = 1 << 20;
    errno = 0;
    for (;;) {
      size_t old = bytes.size();
      size_t want = std::max(chunk, bytes.capacity() - old);
      bytes.resize(old + want);
      size_t got = std::fread(bytes.data() + old, 1, want, fp.get());
      bytes.resize(old + got);
      if (got < want) break;
    }
  } catch (const std::bad_alloc&) {
    throw Error("cannot read safetensors file '" + path + "': not enough memory to load it");
  } catch (const std::length_error&) {
    throw Error("cannot read safetensors file '" + path + "': too large to load");
  }
  if (std::ferror(fp.get())) {
    int err = errno;
    throw Error("cannot read safetensors file '" + path + "': " + errno_message(err));
  }
  fp.reset();
  return from_bytes(std::move(bytes), path);
}

const uint8_t* File::data(const TensorInfo& info) const {
  const uint64_t size = bytes_.size();
  if (info.begin > info.end || header_.data_offset > size || info.end > size - header_.data_offset)
    throw Error(prefix_for(path_) + tensor_ctx(info.name) + "data_offsets " + range_str(info.begin, info.end) +
                " are outside this file");
  return bytes_.data() + header_.data_offset + info.begin;
}

// ---------------------------------------------------------------- writer

namespace {

struct Prepared {
  std::vector<uint8_t> head;  // 8-byte length + padded JSON header
  std::vector<const TensorView*> order;
  uint64_t data_size = 0;
};

void check_utf8(const std::string& s, const std::string& what) {
  if (!json::is_valid_utf8(s.data(), s.size())) throw Error(what + " is not valid UTF-8");
}

Prepared prepare(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata) {
  Prepared p;
  std::unordered_set<std::string> names;
  for (const auto& t : tensors) {
    const std::string ctx = tensor_ctx(t.name);
    check_utf8(t.name, "tensor name " + quoted_name(t.name));
    if (t.name == "__metadata__") throw Error("tensor name '__metadata__' is reserved for metadata");
    if (!names.insert(t.name).second) throw Error("duplicate tensor name " + quoted_name(t.name));
    dtype_size(t.dtype);  // throws on an out-of-range enum value
    if (t.shape.size() > kMaxRank)
      throw Error(ctx + "rank " + std::to_string(t.shape.size()) + " exceeds the limit of " + std::to_string(kMaxRank));
    for (size_t i = 0; i < t.shape.size(); ++i)
      if (t.shape[i] < 0)
        throw Error(ctx + "shape[" + std::to_string(i) + "] is " + std::to_string(t.shape[i]) +
                    "; dims must be non-negative");
    uint64_t numel, nbytes;
    if (!checked_sizes(t.shape, t.dtype, numel, nbytes))
      throw Error(ctx + "shape " + shape_str(t.shape) + " of " + dtype_name(t.dtype) + " overflows 64-bit sizes");
    if (static_cast<uint64_t>(t.nbytes) != nbytes)
      throw Error(ctx + "data has " + std::to_string(t.nbytes) + " bytes but shape " + shape_str(t.shape) + " of " +
                  dtype_name(t.dtype) + " needs " + std::to_string(nbytes));
    if (t.nbytes > 0 && t.data == nullptr) throw Error(ctx + "data pointer is null");
    p.order.push_back(&t);
  }
  for (const auto& kv : metadata) {
    check_utf8(kv.first, "metadata key " + quoted_name(kv.first));
    check_utf8(kv.second, "metadata value for key " + quoted_name(kv.first));
  }

  std::sort(p.order.begin(), p.order.end(), [](const TensorView* a, const TensorView* b) {
    int ra = alignment_rank(a->dtype), rb = alignment_rank(b->dtype);
    if (ra != rb) return ra > rb;
    return a->name < b->name;  // bytewise, like Rust's String ordering
  });

  std::string js = "{";
  bool first = true;
  if (!metadata.empty()) {
    js += "\"__metadata__\":{";
    bool mfirst = true;
    for (const auto& kv : metadata) {
      if (!mfirst) js += ',';
      mfirst = false;
      json::append_quoted(js, kv.first);
      js += ':';
      json::append_quoted(js, kv.second);
    }
    js += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const TensorView* t : p.order) {
    if (!first) js += ',';
    first = false;
    json::append_quoted(js, t->name);
    js += ":{\"dtype\":\"";
    js += dtype_name(t->dtype);
    js += "\",\"shape\":[";
    for (size_t i = 0; i < t->shape.size(); ++i) {
      if (i) js += ',';
      js += std::to_string(t->shape[i]);
    }
    js += "],\"data_offsets\":[";
    if (t->nbytes > kU64Max - offset) throw Error("total tensor data overflows 64-bit offsets");
    js += std::to_string(offset) + "," + std::to_string(offset + t->nbytes) + "]}";
    offset += t->nbytes;
  }
  js += '}';
  // Pad so the data section starts 8-aligned (8-byte prefix + multiple of 8).
  js.append((8 - js.size() % 8) % 8, ' ');
  if (js.size() > kMaxHeaderSize)
    throw Error("header would be " + std::to_string(js.size()) + " bytes, over the " +
                std::to_string(kMaxHeaderSize) + "-byte limit readers enforce");

  uint64_t n = js.size();
  p.head.resize(8 + js.size());
  for (int i = 0; i < 8; ++i) p.head[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(p.head.data() + 8, js.data(), js.size());
  p.data_size = offset;
  return p;
}

}  // namespace

std::vector<uint8_t> serialize(const std::vector<TensorView>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata);
  if (p.data_size > std::numeric_limits<size_t>::max() - p.head.size())
    throw Error("serialized size does not fit in memory");
  std::vector<uint8_t> out;
  out.reserve(p.head.size() + static_cast<size_t>(p.data_size));
  out.insert(out.end(), p.head.begin(), p.head.end());
  for (const TensorView* t : p.order) {
    const uint8_t* d = static_cast<const uint8_t*>(t->data);
    if (t->nbytes) out.insert(out.end(), d, d + t->nbytes);
  }
  return out;
}

namespace {

std::atomic<unsigned> g_tmp_counter{0};

#ifdef _WIN32
int current_pid() { return _getpid(); }
int sync_file(std::FILE* fp) { return _commit(_fileno(fp)); }
bool replace_file(const std::string& from, const std::string& to) {
  return MoveFileExA(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) != 0;
}
void sync_parent_dir(const std::string&) {}
#else
int current_pid() { return static_cast<int>(getpid()); }
int sync_file(std::FILE* fp) { return fsync(fileno(fp)); }
bool replace_file(const std::string& from, const std::string& to) { return std::rename(from.c_str(), to.c_str()) == 0; }
// Makes the rename itself durable; best effort (some filesystems refuse).
void sync_parent_dir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY);
  if (fd >= 0) {
    (void)fsync(fd);
    ::close(fd);
  }
}
#endif

}  // namespace

void write_file(const std::string& path, const std::vector<TensorView>& tensors,
                const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata);  // validate before touching the disk

  // The counter keeps concurrent writes of one path from one process apart.
  unsigned seq = g_tmp_counter.fetch_add(1);
  std::string tmp = path + ".tmp-" + std::to_string(current_pid());
  if (seq) tmp += "." + std::to_string(seq);

  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (!fp) {
    int err = errno;
    throw Error("cannot write safetensors file '" + path + "': cannot create '" + tmp + "': " + errno_message(err));
  }
  auto fail = [&](const std::string& step, int err) {
    if (fp) std::fclose(fp);
    std::remove(tmp.c_str());
    throw Error("cannot write safetensors file '" + path + "': " + step + ": " + errno_message(err));
  };
  if (std::fwrite(p.head.data(), 1, p.head.size(), fp) != p.head.size()) fail("write failed", errno);
  for (const TensorView* t : p.order) {
    if (t->nbytes && std::fwrite(t->data, 1, t->nbytes, fp) != t->nbytes) fail("write failed", errno);
  }
  if (std::fflush(fp) != 0) fail("flush failed", errno);
  if (sync_file(fp) != 0) fail("fsync failed", errno);
  int rc = std::fclose(fp);
  fp = nullptr;
  if (rc != 0) fail("close failed", errno);
  if (!replace_file(tmp, path)) fail("cannot rename '" + tmp + "' over it", errno);
  sync_parent_dir(path);
}

// ---------------------------------------------------------------- 16-bit floats

namespace {
uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

float bf16_to_float(uint16_t bits) { return bits_float(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_bf16(float value) {
  uint32_t u = float_bits(value);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
    // NaN: truncate and set the quiet bit so the payload cannot become zero
    // (which would turn it into infinity).
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  // Round to nearest even: add 0x7FFF plus the lowest kept bit. Overflow of
  // the largest finite values into infinity is the correct rounding.
  uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7FFFu + lsb) >> 16);
}

float f16_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return bits_float(sign | 0x7F800000u | (mant << 13));  // inf / NaN (payload kept)
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24, exact in float.
  float mag = static_cast<float>(mant) * bits_float(0x33800000u);  // 2^-24
  return bits_float(sign | float_bits(mag));
}

uint16_t float_to_f16(float value) {
  uint32_t u = float_bits(value);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {  // NaN: keep top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  if (abs == 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u);
  int exp = static_cast<int>(abs >> 23) - 127 + 15;  // half-biased exponent
  uint32_t mant = abs & 0x7FFFFFu;
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 2^16 overflows
  if (exp >= 1) {
    uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    // Carry out of the mantissa bumps the exponent, up to infinity: correct.
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < -10) return sign;  // below half the smallest subnormal: rounds to zero
  // Subnormal result: the full 24-bit significand shifted into units of 2^-24.
  uint32_t m = mant | 0x800000u;
  uint32_t shift = static_cast<uint32_t>(14 - exp);  // 14..24
  uint32_t h = m >> shift;
  uint32_t rem = m & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

}  // namespace safetensors
}  // namespace chatbert
