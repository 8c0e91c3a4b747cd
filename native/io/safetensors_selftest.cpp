// Standalone tests for json.* and safetensors.* (no framework, no LibTorch).
// Build and run:
//   g++ -std=c++17 -O1 -g -fsanitize=address,undefined -Wall -Wextra
//     native/io/json.cpp native/io/safetensors.cpp native/io/safetensors_selftest.cpp -o /tmp/st_selftest
//   /tmp/st_selftest            # exits non-zero on the first failed group
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "json.h"
#include "safetensors.h"

#ifndef _WIN32
#include <unistd.h>
#else
#include <process.h>
#define getpid _getpid
#endif

using namespace chatbert;
namespace st = chatbert::safetensors;

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    ++g_checks;                                                                 \
    if (!(cond)) {                                                              \
      ++g_failures;                                                             \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                           \
  } while (0)

// Runs fn and checks it throws E whose message contains every needle.
template <typename E>
static void expect_throw(const char* label, const std::function<void()>& fn, std::vector<std::string> needles) {
  ++g_checks;
  try {
    fn();
  } catch (const E& e) {
    std::string msg = e.what();
    for (const auto& n : needles) {
      if (msg.find(n) == std::string::npos) {
        ++g_failures;
        std::fprintf(stderr, "[%s] message lacks \"%s\": %s\n", label, n.c_str(), msg.c_str());
      }
    }
    return;
  } catch (const std::exception& e) {
    ++g_failures;
    std::fprintf(stderr, "[%s] wrong exception type: %s\n", label, e.what());
    return;
  }
  ++g_failures;
  std::fprintf(stderr, "[%s] did not throw\n", label);
}

static std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes, uint64_t declared_len) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(declared_len >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0xAB);
  return out;
}
static std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes) {
  return with_header(header, data_bytes, header.size());
}

static st::Header parse(const std::vector<uint8_t>& b, const std::string& what = "t.safetensors") {
  return st::parse_header(b.data(), b.size(), what);
}

// ---------------------------------------------------------------- JSON

static void test_json() {
  json::Value v = json::parse(R"( {"a": [1, -2, 3.5e2, true, false, null], "b": {"c": "x\"y\\z\/\b\f\n\r\t"}} )");
  CHECK(v.is_object());
  const json::Value* a = v.get("a");
  CHECK(a && a->is_array() && a->as_array().size() == 6);
  int64_t i64 = 0;
  uint64_t u64 = 0;
  CHECK(a->as_array()[0].as_uint64(u64) && u64 == 1);
  CHECK(a->as_array()[1].as_int64(i64) && i64 == -2);
  CHECK(!a->as_array()[1].as_uint64(u64));
  CHECK(!a->as_array()[2].as_int64(i64));  // 3.5e2 is not written as an integer
  CHECK(a->as_array()[2].as_double() == 350.0);
  CHECK(a->as_array()[3].as_bool() && !a->as_array()[4].as_bool() && a->as_array()[5].is_null());
  CHECK(v.get("b")->get("c")->as_string() == "x\"y\\z/\b\f\n\r\t");

  // \u escapes, including a surrogate pair (U+1F600) and raw UTF-8.
  CHECK(json::parse(R"("\u00e9\u4e2d\ud83d\ude00\u0000")").as_string() ==
        std::string("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\0", 10));
  CHECK(json::parse("\"\xc3\xa9\xf0\x9f\x98\x80\"").as_string() == "\xc3\xa9\xf0\x9f\x98\x80");

  // Integer limits.
  CHECK(json::parse("18446744073709551615").as_uint64(u64) && u64 == UINT64_MAX);
  CHECK(!json::parse("18446744073709551616").as_uint64(u64));
  CHECK(json::parse("-9223372036854775808").as_int64(i64) && i64 == INT64_MIN);
  CHECK(!json::parse("9223372036854775808").as_int64(i64));
  CHECK(json::parse("-0").as_uint64(u64) && u64 == 0);

  struct Bad { const char* text; const char* needle; size_t offset; };
  const Bad bad[] = {
      {"", "unexpected end of input", 0},
      {"{", "expected a string key", 1},
      {"{\"a\":1,}", "expected a string key", 7},
      {"[1,]", "expected a value", 3},
      {"[1 2]", "expected ',' or ']'", 3},
      {"{\"a\" 1}", "expected ':'", 5},
      {"01", "leading zero", 1},
      {"1.", "after '.'", 2},
      {"1e", "exponent", 2},
      {"-", "expected a digit", 1},
      {"+1", "expected a value", 0},
      {"NaN", "expected a value", 0},
      {"tru", "expected 'true'", 0},
      {"\"abc", "unterminated string", 0},
      {"\"a\nb\"", "control character", 2},
      {"\"\\x\"", "invalid escape", 1},
      {"\"\\u12G4\"", "invalid hex digit", 5},
      {"\"\\ud800\"", "lone high surrogate", 1},
      {"\"\\ud800\\u0041\"", "not followed by a low surrogate", 1},
      {"\"\\udc00\"", "lone low surrogate", 1},
      {"\"\xc0\xaf\"", "invalid UTF-8", 1},           // overlong '/'
      {"\"\xed\xa0\x80\"", "invalid UTF-8", 1},       // encoded surrogate
      {"\"\xf4\x90\x80\x80\"", "invalid UTF-8", 1},   // > U+10FFFF
      {"\"\xe4\xb8\"", "invalid UTF-8", 1},           // truncated sequence
      {"{\"a\":1,\"a\":2}", "duplicate key \"a\"", 7},
      {"{} x", "after the JSON value", 3},
      {"[] // c", "after the JSON value", 3},
  };
  for (const Bad& b : bad) {
    ++g_checks;
    try {
      json::parse(b.text);
      ++g_failures;
      std::fprintf(stderr, "json accepted bad input: %s\n", b.text);
    } catch (const json::ParseError& e) {
      if (std::string(e.what()).find(b.needle) == std::string::npos || e.offset() != b.offset) {
        ++g_failures;
        std::fprintf(stderr, "json error for %s: want '%s' at %zu, got '%s' at %zu\n", b.text, b.needle, b.offset,
                     e.what(), e.offset());
      }
    }
  }

  // Depth limit protects the stack.
  std::string deep(100000, '[');
  expect_throw<json::ParseError>("json depth", [&] { json::parse(deep); }, {"nesting deeper than 64"});
  json::ParseOptions shallow;
  shallow.max_depth = 2;
  CHECK(json::parse("[[1]]", shallow).is_array());
  expect_throw<json::ParseError>("json depth 2", [&] { json::parse("[[[1]]]", shallow); }, {"nesting deeper than 2"});

  json::ParseOptions short_arrays;
  short_arrays.max_array_length = 2;
  CHECK(json::parse("[1,2]", short_arrays).as_array().size() == 2);
  expect_throw<json::ParseError>("json array limit", [&] { json::parse("[1,2,3]", short_arrays); },
                                 {"array longer than 2 elements"});
  CHECK(sizeof(json::Value) <= 48);
  CHECK(json::parse("{}").type() == json::Value::Type::Object && json::parse("1").type() == json::Value::Type::Number);
  CHECK(json::parse("\"s\"").type() == json::Value::Type::String && json::Value().is_null());

  // Writer escapes like serde_json and round-trips through the parser.
  std::string raw("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9", 16);
  CHECK(json::quote(raw) == "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xc3\xa9\"");
  CHECK(json::parse(json::quote(raw)).as_string() == raw);
  json::Value obj = json::Value::object(
      {{"z", json::Value::number(int64_t{-5})},
       {"a", json::Value::array({json::Value::boolean(true), json::Value::null(), json::Value::string("s")})}});
  CHECK(json::dump(obj) == "{\"z\":-5,\"a\":[true,null,\"s\"]}");
  CHECK(json::dump(json::parse(json::dump(obj))) == json::dump(obj));

  // Long hostile keys are cut in messages, at a UTF-8 boundary.
  std::string long_key(300, 'k');
  long_key[119] = '\xc3';
  long_key[120] = '\xa9';
  std::string m = json::quote_for_message(long_key);
  CHECK(m.size() < 130 && m.find("...\"") != std::string::npos && json::is_valid_utf8(m.data(), m.size()));
}

static const char* kGood = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
static std::string kGoodHeader() { return kGood; }

// ---------------------------------------------------------------- round trip

static std::vector<uint8_t> f32_bytes(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

static void test_round_trip() {
  std::vector<uint8_t> a = f32_bytes({0, 1, 2, 3, 4, 5});
  std::vector<uint8_t> b = {1, 2, 3};                                // U8 [3]
  std::vector<uint8_t> c(2 * 2 * 2, 0x11);                           // BF16 [2,2]
  std::vector<uint8_t> d(8 * 2, 0x22);                               // I64 [2]
  std::vector<uint8_t> e(2, 0x33);                                   // F16 scalar
  std::vector<uint8_t> f;                                            // F32 [0, 7]
  std::vector<uint8_t> g = {1, 0, 1};                                // BOOL [3]
  std::vector<uint8_t> h(8, 0x44);                                   // F64 [1]
  std::vector<uint8_t> i(4 * 3, 0x55);                               // I32 [3]
  std::vector<uint8_t> j(2 * 1, 0x66);                               // I16 [1]
  std::vector<uint8_t> k = {0xFF};                                   // I8 [1]
  std::vector<st::TensorView> views = {
      {"w.a", st::DType::F32, {2, 3}, a.data(), a.size()},
      {"b", st::DType::U8, {3}, b.data(), b.size()},
      {"c", st::DType::BF16, {2, 2}, c.data(), c.size()},
      {"d", st::DType::I64, {2}, d.data(), d.size()},
      {"e", st::DType::F16, {}, e.data(), e.size()},
      {"empty", st::DType::F32, {0, 7}, nullptr, 0},
      {"g", st::DType::BOOL, {3}, g.data(), g.size()},
      {"h", st::DType::F64, {1}, h.data(), h.size()},
      {"i", st::DType::I32, {3}, i.data(), i.size()},
      {"j", st::DType::I16, {1}, j.data(), j.size()},
      {"\xc3\xa9t\"\n", st::DType::I8, {1}, k.data(), k.size()},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "a\"b\\c\n\xe4\xb8\xad"}};
  std::vector<uint8_t> bytes = st::serialize(views, meta);

  CHECK(bytes.size() >= 8);
  uint64_t n = 0;
  for (int q = 7; q >= 0; --q) n = (n << 8) | bytes[q];
  CHECK(n % 8 == 0);

  st::File file = st::File::from_bytes(bytes, "mem");
  const st::Header& hd = file.header();
  CHECK(hd.data_offset == 8 + n);
  CHECK(hd.metadata == meta);
  CHECK(hd.tensors.size() == views.size());
  for (const auto& v : views) {
    const st::TensorInfo* t = hd.find(v.name);
    CHECK(t != nullptr);
    if (!t) continue;
    CHECK(t->dtype == v.dtype);
    CHECK(t->shape == v.shape);
    CHECK(t->nbytes() == v.nbytes);
    CHECK(static_cast<size_t>(t->numel()) * st::dtype_size(t->dtype) == v.nbytes);
    if (v.nbytes) CHECK(std::memcmp(file.data(*t), v.data, v.nbytes) == 0);
    // Largest alignment first, so every tensor is aligned to its element size.
    CHECK((hd.data_offset + t->begin) % st::dtype_size(t->dtype) == 0);
  }
  CHECK(hd.find("nope") == nullptr);
  // Data order: I64, F64, F32 (by name), I32, BF16, F16, I16, I8, U8, BOOL.
  std::vector<std::string> order;
  for (const auto& t : hd.tensors) order.push_back(t.name);
  std::vector<std::string> want = {"d", "h", "empty", "w.a", "i", "c", "e", "j", "\xc3\xa9t\"\n", "b", "g"};
  CHECK(order == want);

  // Serializing the parsed file again gives identical bytes.
  std::vector<st::TensorView> again;
  for (const auto& t : hd.tensors)
    again.push_back({t.name, t.dtype, t.shape, file.data(t), static_cast<size_t>(t.nbytes())});
  CHECK(st::serialize(again, hd.metadata) == bytes);

  // File on disk, atomic write, and read back.
  std::string dir = (std::filesystem::temp_directory_path() / ("st_selftest_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  std::string path = dir + "/model.safetensors";
  st::write_file(path, views, meta);
  st::File disk = st::File::open(path);
  CHECK(disk.path() == path);
  CHECK(disk.bytes() == bytes);
  // Overwrite in place: the rename replaces the old file, no temp file stays.
  st::write_file(path, {views[0]});
  CHECK(st::File::open(path).header().tensors.size() == 1);
  size_t entries = 0;
  for (auto& de : std::filesystem::directory_iterator(dir)) { (void)de; ++entries; }
  CHECK(entries == 1);

  expect_throw<st::Error>("missing file", [&] { st::File::open(dir + "/absent.safetensors"); },
                          {dir + "/absent.safetensors", "No such file"});
  expect_throw<st::Error>("directory", [&] { st::File::open(dir); }, {dir, "not a regular file"});
  {
    std::ofstream(dir + "/trunc.safetensors", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size() - 3));
  }
  expect_throw<st::Error>("truncated on disk", [&] { st::File::open(dir + "/trunc.safetensors"); },
                          {dir + "/trunc.safetensors: ", "file truncated"});
  // read_header reads only the header yet validates against the file size.
  st::write_file(path, views, meta);
  uint64_t fsz = 0;
  st::Header rh = st::read_header(path, &fsz);
  CHECK(fsz == bytes.size() && rh.data_offset == hd.data_offset && rh.metadata == meta);
  CHECK(rh.tensors.size() == hd.tensors.size() && rh.tensors.back().end == hd.tensors.back().end);
  for (size_t q = 0; q < rh.tensors.size(); ++q) CHECK(rh.tensors[q].name == hd.tensors[q].name);
  expect_throw<st::Error>("read_header truncated", [&] { st::read_header(dir + "/trunc.safetensors"); },
                          {dir + "/trunc.safetensors: ", "run past the"});
  expect_throw<st::Error>("read_header missing", [&] { st::read_header(dir + "/absent.safetensors"); },
                          {"cannot open safetensors file '" + dir + "/absent.safetensors': No such file"});
  {
    std::ofstream(dir + "/short.safetensors", std::ios::binary).write("\x05\0\0", 3);
    std::vector<uint8_t> big = with_header(kGoodHeader(), 24, 5000);
    std::ofstream(dir + "/biglen.safetensors", std::ios::binary)
        .write(reinterpret_cast<const char*>(big.data()), static_cast<std::streamsize>(big.size()));
  }
  expect_throw<st::Error>("read_header short", [&] { st::read_header(dir + "/short.safetensors"); }, {"file is 3 bytes"});
  expect_throw<st::Error>("read_header big length", [&] { st::read_header(dir + "/biglen.safetensors"); },
                          {"header length 5000 is larger than the 81 bytes"});
  expect_throw<st::Error>("read_header dir", [&] { st::read_header(dir); }, {"not a regular file"});
  std::filesystem::remove(dir + "/short.safetensors");
  std::filesystem::remove(dir + "/biglen.safetensors");
  std::filesystem::remove(dir + "/trunc.safetensors");
  expect_throw<st::Error>("write into missing dir", [&] { st::write_file(dir + "/no/such/x.safetensors", views); },
                          {dir + "/no/such/x.safetensors", "No such file"});
  // A rejected write leaves the previous file untouched.
  std::vector<uint8_t> before = st::File::open(path).bytes();
  st::TensorView badv = views[0];
  badv.nbytes = 4;
  expect_throw<st::Error>("bad write keeps file", [&] { st::write_file(path, {badv}); }, {"needs 24"});
  CHECK(st::File::open(path).bytes() == before);
  std::filesystem::remove_all(dir);

  // Empty file set and metadata-only, matching the reference bytes exactly.
  std::vector<uint8_t> empty = st::serialize({});
  CHECK(empty == std::vector<uint8_t>({8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}));
  std::vector<uint8_t> mo = st::serialize({}, {{"framework", "pt"}});
  std::string mo_json(mo.begin() + 8, mo.end());
  CHECK(mo[0] == 40 && mo_json == "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
  CHECK(parse(empty).tensors.empty());
  CHECK(parse(mo).metadata.at("framework") == "pt");
}

static void test_known_bytes() {
  // The reference implementation's own serialization test vector.
  std::vector<uint8_t> a = f32_bytes({0, 1, 2, 3, 4, 5});
  std::vector<uint8_t> out = st::serialize({{"attn.0", st::DType::F32, {1, 2, 3}, a.data(), a.size()}});
  std::string head = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
  CHECK(head.size() == 64);
  std::vector<uint8_t> want = {64, 0, 0, 0, 0, 0, 0, 0};
  want.insert(want.end(), head.begin(), head.end());
  want.insert(want.end(), a.begin(), a.end());
  CHECK(out == want);
  // Shorter name forces 7 bytes of space padding.
  out = st::serialize({{"attn0", st::DType::F32, {1, 1, 2, 3}, a.data(), a.size()}});
  head = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
  CHECK(out[0] == 72 && std::string(out.begin() + 8, out.begin() + 80) == head);
}

// ---------------------------------------------------------------- validation

static void test_validation() {
  CHECK(parse(with_header(kGood, 24)).tensors.size() == 1);
  // Whitespace padding after the JSON (any of the four JSON whitespace bytes).
  CHECK(parse(with_header(std::string(kGood) + " \t\r\n", 24)).tensors.size() == 1);
  // Tensors listed in any order in the header are sorted by offset.
  st::Header h2 = parse(with_header(R"({"y":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},)"
                                    R"("x":{"dtype":"I16","shape":[],"data_offsets":[0,2]},"__metadata__":null})",
                                    3));
  CHECK(h2.tensors.size() == 2 && h2.tensors[0].name == "x" && h2.tensors[1].name == "y");
  CHECK(h2.tensors[0].numel() == 1 && h2.metadata.empty());
  // Zero-size tensors may share an offset.
  CHECK(parse(with_header(R"({"z1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                          R"("z2":{"dtype":"F64","shape":[3,0],"data_offsets":[0,0]}})",
                          0))
            .tensors.size() == 2);

  using V = std::vector<uint8_t>;
  auto bad = [](const char* label, const V& b, std::vector<std::string> needles) {
    needles.insert(needles.begin(), "t.safetensors: ");
    expect_throw<st::Error>(label, [&] { parse(b); }, needles);
  };
  bad("tiny file", V{1, 2, 3}, {"file is 3 bytes"});
  bad("empty file", V{}, {"file is 0 bytes"});
  bad("header too long for file", with_header(kGood, 24, 1000), {"header length 1000 is larger than the"});
  bad("header over 100MB", with_header(kGood, 24, 100000001), {"exceeds the limit"});
  bad("header length u64 max", with_header(kGood, 24, UINT64_MAX), {"exceeds the limit"});
  bad("zero header", with_header("", 0, 0), {"header is empty"});
  bad("BOM", with_header("\xef\xbb\xbf{}", 0), {"does not start with '{'"});
  bad("bad JSON", with_header(R"({"a":{"dtype":"F32",}})", 0), {"not valid JSON", "expected a string key", "header byte 20"});
  bad("truncated JSON", with_header(R"({"a":{"dtype")", 0), {"not valid JSON"});
  bad("trailing garbage", with_header(std::string(kGood) + "x", 24), {"not valid JSON", "after the JSON value"});
  bad("NUL padding", with_header(std::string(kGood) + '\0', 24), {"not valid JSON"});
  bad("not object", with_header("[1]", 0), {"does not start with '{'"});
  bad("duplicate tensor", with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                      R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
      {"duplicate tensor name 'a'"});
  bad("duplicate dtype", with_header(R"({"x":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
      {"tensor 'x': duplicate key 'dtype'"});
  bad("duplicate metadata", with_header(R"({"__metadata__":{},"__metadata__":{}})", 0), {"duplicate '__metadata__'"});
  bad("duplicate metadata key", with_header(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
      {"duplicate '__metadata__' key 'k'"});
  bad("three offsets", with_header(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 1),
      {"must be an array [begin, end]"});
  bad("offsets not array", with_header(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":"0,1"}})", 1),
      {"must be an array [begin, end]"});
  bad("offsets fraction", with_header(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}})", 1),
      {"two non-negative 64-bit integers"});
  // Fail fast: the first bad entry is reported even if the text goes bad later.
  bad("fail fast", with_header(R"({"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}, garbage)", 1),
      {"unknown dtype 'Q4'"});
  bad("syntax after good entry", with_header(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}, garbage)", 1),
      {"not valid JSON", "expected a string key"});
  bad("unclosed", with_header(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})", 1),
      {"not valid JSON", "expected ',' or '}'"});
  bad("metadata not object", with_header(R"({"__metadata__":[]})", 0), {"'__metadata__' is not an object"});
  bad("metadata value", with_header(R"({"__metadata__":{"k":1}})", 0), {"key 'k' is not a string"});
  bad("entry not object", with_header(R"({"x":5})", 0), {"tensor 'x': entry is a number, not an object"});
  bad("missing dtype", with_header(R"({"x":{"shape":[],"data_offsets":[0,4]}})", 4), {"tensor 'x': missing 'dtype'"});
  bad("missing shape", with_header(R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", 4), {"missing 'shape'"});
  bad("missing offsets", with_header(R"({"x":{"dtype":"F32","shape":[]}})", 4), {"missing 'data_offsets'"});
  bad("extra key", with_header(R"({"x":{"dtype":"F32","shape":[],"data_offsets":[0,4],"offsets":1}})", 4),
      {"tensor 'x': unexpected key 'offsets'"});
  bad("unknown dtype", with_header(R"({"x":{"dtype":"Q4","shape":[],"data_offsets":[0,4]}})", 4),
      {"tensor 'x': unknown dtype 'Q4'"});
  bad("unsupported dtype", with_header(R"({"x":{"dtype":"U16","shape":[],"data_offsets":[0,2]}})", 2),
      {"unknown dtype 'U16'"});
  bad("dtype not string", with_header(R"({"x":{"dtype":4,"shape":[],"data_offsets":[0,4]}})", 4),
      {"'dtype' is not a string"});
  bad("negative dim", with_header(R"({"x":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,4]}})", 4),
      {"tensor 'x': shape[1] is -3", "non-negative"});
  bad("fractional dim", with_header(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
      {"shape[0] is 1.5"});
  bad("string dim", with_header(R"({"x":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", 4),
      {"shape[0] is not a number"});
  bad("shape not array", with_header(R"({"x":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4),
      {"'shape' is not an array"});
  bad("huge dim", with_header(R"({"x":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}})", 4),
      {"shape[0] is 9223372036854775808"});
  bad("numel overflow",
      with_header(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
      {"overflows"});
  bad("bytes overflow", with_header(R"({"x":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4),
      {"overflows"});
  bad("offsets arity", with_header(R"({"x":{"dtype":"F32","shape":[],"data_offsets":[0]}})", 4),
      {"must be an array [begin, end]"});
  bad("offsets negative", with_header(R"({"x":{"dtype":"F32","shape":[],"data_offsets":[-1,3]}})", 4),
      {"two non-negative 64-bit integers"});
  bad("offsets reversed", with_header(R"({"x":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
      {"data_offsets [4, 0] end before they begin"});
  bad("size mismatch", with_header(R"({"x.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}})", 12),
      {"tensor 'x.weight': data_offsets [0, 12] hold 12 bytes but shape [2, 3] of F32 needs 24"});
  bad("overlap", with_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6),
      {"tensor 'b': data_offsets [2, 6] overlap tensor 'a' at [0, 4]"});
  bad("gap", with_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}})", 10),
      {"tensor 'b': data_offsets [6, 10] leave a gap of 2 bytes after offset 4"});
  bad("gap at start", with_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[1,5]}})", 5),
      {"gap of 1 bytes after offset 0"});
  bad("past end", with_header(kGood, 20), {"tensor 'a': data_offsets [0, 24] run past the 20-byte data section"});
  bad("trailing data", with_header(kGood, 30), {"tensors cover 24 bytes but the data section holds 30"});
  bad("no tensors trailing", with_header("{}", 1), {"tensors cover 0 bytes"});
  bad("hostile name", with_header("{\"\\u0001\\n\":5}", 0), {"tensor '\\u0001\\n': entry is a number, not an object"});
  // Nesting is refused by the schema before any depth limit matters.
  bad("deep nesting", with_header("{\"a\":" + std::string(100000, '[') + "}", 0),
      {"tensor 'a': entry is an array, not an object"});
  bad("nested shape", with_header(R"({"x":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})", 4),
      {"shape[0] is not a number"});
  {
    // Rank up to the limit is fine; one more is refused while parsing.
    std::string ones;
    for (size_t q = 0; q < st::kMaxRank; ++q) ones += q ? ",1" : "1";
    CHECK(parse(with_header(R"({"x":{"dtype":"U8","shape":[)" + ones + R"(],"data_offsets":[0,1]}})", 1))
              .tensors[0].shape.size() == st::kMaxRank);
    bad("rank limit", with_header(R"({"x":{"dtype":"U8","shape":[)" + ones + R"(,1],"data_offsets":[0,1]}})", 1),
        {"array longer than 1024 elements"});
  }
  bad("invalid utf8 name", with_header("{\"\xff\":5}", 0), {"invalid UTF-8"});
  // No prefix when no name is given.
  expect_throw<st::Error>("no what", [] { std::vector<uint8_t> b{1}; st::parse_header(b.data(), 1); }, {"file is 1 bytes"});

  // File::data refuses a TensorInfo that is not from this file.
  st::File f = st::File::from_bytes(with_header(kGood, 24), "f");
  st::TensorInfo alien = f.header().tensors[0];
  alien.end = 1000;
  expect_throw<st::Error>("alien info", [&] { f.data(alien); }, {"outside this file"});
}

static void test_writer_validation() {
  std::vector<uint8_t> buf(24);
  auto view = [&](std::string name, st::DType dt, std::vector<int64_t> shape, size_t nb) {
    return st::TensorView{std::move(name), dt, std::move(shape), buf.data(), nb};
  };
  expect_throw<st::Error>("w size", [&] { st::serialize({view("x", st::DType::F32, {2, 3}, 12)}); },
                          {"tensor 'x': data has 12 bytes but shape [2, 3] of F32 needs 24"});
  expect_throw<st::Error>("w negative", [&] { st::serialize({view("x", st::DType::F32, {-1}, 0)}); },
                          {"tensor 'x': shape[0] is -1"});
  expect_throw<st::Error>("w overflow", [&] { st::serialize({view("x", st::DType::F32, {INT64_MAX, 2}, 0)}); },
                          {"overflows"});
  expect_throw<st::Error>("w rank", [&] {
    st::serialize({view("x", st::DType::U8, std::vector<int64_t>(st::kMaxRank + 1, 1), 1)});
  }, {"rank 1025 exceeds"});
  expect_throw<st::Error>("w dup", [&] { st::serialize({view("x", st::DType::U8, {1}, 1), view("x", st::DType::U8, {1}, 1)}); },
                          {"duplicate tensor name 'x'"});
  expect_throw<st::Error>("w reserved", [&] { st::serialize({view("__metadata__", st::DType::U8, {1}, 1)}); },
                          {"reserved"});
  expect_throw<st::Error>("w utf8", [&] { st::serialize({view("\xff", st::DType::U8, {1}, 1)}); },
                          {"not valid UTF-8"});
  expect_throw<st::Error>("w meta utf8", [&] { st::serialize({}, {{"k", "\xc3"}}); }, {"metadata value for key 'k'"});
  expect_throw<st::Error>("w null", [&] {
    st::serialize({st::TensorView{"x", st::DType::U8, {1}, nullptr, 1}});
  }, {"data pointer is null"});
  expect_throw<st::Error>("w bad enum", [&] { st::serialize({view("x", static_cast<st::DType>(99), {1}, 1)}); },
                          {"invalid DType"});

  CHECK(st::parse_dtype("BF16") == st::DType::BF16);
  expect_throw<st::Error>("parse_dtype", [] { st::parse_dtype("f32"); }, {"unknown dtype 'f32'"});
  CHECK(st::dtype_size(st::DType::BOOL) == 1 && st::dtype_size(st::DType::I64) == 8);
}

// ---------------------------------------------------------------- 16-bit floats

static uint32_t fbits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Reference rounding: nearest representable value by exhaustive search over
// the (sorted, non-negative, finite) 16-bit values, ties to the even code.
static uint16_t reference_round(float x, const std::vector<std::pair<double, uint16_t>>& table, uint16_t inf_code,
                                double overflow_at) {
  double ax = std::fabs(static_cast<double>(x));
  uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (ax >= overflow_at) return sign | inf_code;
  auto it = std::lower_bound(table.begin(), table.end(), std::make_pair(ax, uint16_t(0)));
  uint16_t best;
  if (it == table.end()) best = table.back().second;
  else if (it == table.begin() || it->first == ax) best = it->second;
  else {
    auto lo = it - 1;
    double dl = ax - lo->first, dh = it->first - ax;
    if (dl < dh) best = lo->second;
    else if (dh < dl) best = it->second;
    else best = (lo->second & 1) ? it->second : lo->second;
  }
  return sign | best;
}

static void test_half_floats() {
  // Every non-NaN code round-trips exactly; NaNs stay NaN.
  for (uint32_t c = 0; c < 65536; ++c) {
    uint16_t h = static_cast<uint16_t>(c);
    float fh = st::f16_to_float(h), fb = st::bf16_to_float(h);
    bool h_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
    bool b_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
    if (h_nan) CHECK(std::isnan(fh) && std::isnan(st::f16_to_float(st::float_to_f16(fh))));
    else if (st::float_to_f16(fh) != h) { CHECK(false); std::fprintf(stderr, "f16 rt %04x\n", h); }
    if (b_nan) CHECK(std::isnan(fb) && std::isnan(st::bf16_to_float(st::float_to_bf16(fb))));
    else if (st::float_to_bf16(fb) != h) { CHECK(false); std::fprintf(stderr, "bf16 rt %04x\n", h); }
  }
  CHECK(st::f16_to_float(0x3C00) == 1.0f && st::f16_to_float(0xC000) == -2.0f);
  CHECK(st::f16_to_float(0x7BFF) == 65504.0f && st::f16_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(st::bf16_to_float(0x3F80) == 1.0f && st::float_to_bf16(1.0f) == 0x3F80);
  CHECK(st::float_to_f16(-0.0f) == 0x8000 && st::float_to_bf16(-0.0f) == 0x8000);
  CHECK(st::float_to_f16(65519.99f) == 0x7BFF && st::float_to_f16(65520.0f) == 0x7C00);
  CHECK(st::float_to_f16(1e10f) == 0x7C00 && st::float_to_f16(-INFINITY) == 0xFC00);
  CHECK(st::float_to_bf16(3.4028235e38f) == 0x7F80);  // rounds up to infinity
  CHECK(st::float_to_f16(std::ldexp(1.0f, -25)) == 0);       // tie with 0 -> even (0)
  CHECK(st::float_to_f16(std::ldexp(1.5f, -25)) == 1);
  CHECK(st::float_to_f16(std::ldexp(3.0f, -25)) == 2);       // tie 1|2 -> 2
  CHECK(st::float_to_bf16(bitsf(0x3F808000)) == 0x3F80);     // tie -> even
  CHECK(st::float_to_bf16(bitsf(0x3F818000)) == 0x3F82);
  CHECK(st::float_to_bf16(bitsf(0x7F800001)) != 0x7F80);     // sNaN with low payload stays NaN
  CHECK(std::isnan(st::bf16_to_float(st::float_to_bf16(bitsf(0x7F800001)))));
  CHECK(std::isnan(st::f16_to_float(st::float_to_f16(bitsf(0x7F800001)))));
  CHECK(std::isnan(st::f16_to_float(st::float_to_f16(NAN))));

  std::vector<std::pair<double, uint16_t>> t16, tb16;
  for (uint32_t c = 0; c < 0x7C00; ++c) t16.push_back({st::f16_to_float(static_cast<uint16_t>(c)), static_cast<uint16_t>(c)});
  for (uint32_t c = 0; c < 0x7F80; ++c) tb16.push_back({st::bf16_to_float(static_cast<uint16_t>(c)), static_cast<uint16_t>(c)});
  // Overflow thresholds: halfway between the largest finite value and the
  // next power step (65504 + 16, and bf16 max + half its ulp).
  const double f16_over = 65520.0;
  const double bf16_over = static_cast<double>(bitsf(0x7F7F0000)) + std::ldexp(1.0, 127 - 8);

  std::mt19937 rng(12345);
  int mism16 = 0, mismb = 0;
  for (int it = 0; it < 400000; ++it) {
    uint32_t u = rng();
    if (it % 2) u = (u & 0x80FFFFFF) | ((100 + rng() % 60) << 23);  // bias toward the f16 range
    float x = bitsf(u);
    if (std::isnan(x)) continue;
    if (st::float_to_f16(x) != reference_round(x, t16, 0x7C00, f16_over)) ++mism16;
    if (st::float_to_bf16(x) != reference_round(x, tb16, 0x7F80, bf16_over)) ++mismb;
  }
  // Exact midpoints between neighbours (ties) for every finite f16 pair.
  for (size_t q = 0; q + 1 < t16.size(); ++q) {
    float mid = static_cast<float>((t16[q].first + t16[q + 1].first) / 2);  // exact in float
    if (st::float_to_f16(mid) != reference_round(mid, t16, 0x7C00, f16_over)) ++mism16;
  }
  if (mism16 || mismb) std::fprintf(stderr, "half rounding mismatches: f16 %d bf16 %d\n", mism16, mismb);
  CHECK(mism16 == 0 && mismb == 0);
  (void)fbits;
}

int main() {
  struct { const char* name; void (*fn)(); } groups[] = {
      {"json", test_json},
      {"round trip", test_round_trip},
      {"known bytes", test_known_bytes},
      {"validation", test_validation},
      {"writer validation", test_writer_validation},
      {"half floats", test_half_floats},
  };
  for (auto& g : groups) {
    int before = g_failures;
    try {
      g.fn();
    } catch (const std::exception& e) {
      ++g_failures;
      std::fprintf(stderr, "[%s] unexpected exception: %s\n", g.name, e.what());
    }
    std::printf("%-18s %s\n", g.name, g_failures == before ? "ok" : "FAILED");
  }
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
