#include "model/model_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include "model/crc32.hpp"
#include "model/graph_json.hpp"
#include "model/json.hpp"
#include "model/safetensors.hpp"

namespace facert::model {

namespace {

const char kChecksumKey[] = "\"checksum\":\"crc32:";
constexpr size_t kChecksumKeyLen = sizeof(kChecksumKey) - 1;

const std::string* find_meta(const std::vector<std::pair<std::string, std::string>>& meta, const char* key) {
  for (const auto& kv : meta)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Result<int> check_format(const std::vector<std::pair<std::string, std::string>>& meta) {
  const std::string* format = find_meta(meta, "format");
  if (!format || *format != "facert.sq") return Status::model("not a facert model file (__metadata__.format is not \"facert.sq\")");
  const std::string* version = find_meta(meta, "format_version");
  if (!version) return Status::model("__metadata__.format_version is missing");
  if (version->empty() || version->size() > 9 || version->find_first_not_of("0123456789") != std::string::npos)
    return Status::model("format_version \"" + *version + "\" is not an integer");
  const int v = std::stoi(*version);
  if (v > kFormatVersion)
    return Status::model("model file format version " + std::to_string(v) +
                         " is newer than this facert supports (" + std::to_string(kFormatVersion) +
                         "); upgrade facert");
  if (v < 1) return Status::model("format_version " + std::to_string(v) + " is not a valid version");
  return v;
}

// The CRC covers the whole file with the 8 hex digits read as ASCII '0's.
Status check_checksum(const uint8_t* file, size_t size, uint64_t header_bytes,
                      const std::vector<std::pair<std::string, std::string>>& meta) {
  const std::string* value = find_meta(meta, "checksum");
  if (!value) return Status::model("checksum key missing from __metadata__");
  const uint8_t* header = file + 8;
  size_t found = 0, at = 0;
  for (size_t i = 0; i + kChecksumKeyLen <= header_bytes; ++i) {
    if (std::memcmp(header + i, kChecksumKey, kChecksumKeyLen) == 0) {
      ++found;
      at = 8 + i + kChecksumKeyLen;
    }
  }
  if (found != 1)
    return Status::model(found == 0 ? "checksum key malformed: \"checksum\":\"crc32: not found in the header"
                                    : "checksum key occurs " + std::to_string(found) + " times in the header");
  if (at + 9 > 8 + header_bytes || file[at + 8] != '"')
    return Status::model("checksum malformed: expected crc32: and 8 lowercase hex digits");
  uint32_t stored = 0;
  for (int i = 0; i < 8; ++i) {
    const uint8_t c = file[at + i];
    if (c >= '0' && c <= '9') stored = (stored << 4) | uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') stored = (stored << 4) | uint32_t(c - 'a' + 10);
    else return Status::model("checksum malformed: expected crc32: and 8 lowercase hex digits");
  }
  if (*value != "crc32:" + std::string(reinterpret_cast<const char*>(file + at), 8))
    return Status::model("checksum malformed: __metadata__.checksum does not match the header text");
  static const uint8_t zeros[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
  uint32_t crc = crc32_update(0, file, at);
  crc = crc32_update(crc, zeros, 8);
  crc = crc32_update(crc, file + at + 8, size - at - 8);
  if (crc != stored) return Status::model("checksum mismatch: file is corrupt");
  return Status::ok();
}

Result<Model> load(const uint8_t* file, size_t size) {
  auto header = safetensors::read_header(file, size);
  if (!header) return header.status();
  const auto& h = header.value();
  auto meta = safetensors::read_metadata(h.json);
  if (!meta) return meta.status();
  auto version = check_format(meta.value());
  if (!version) return version.status();
  FACERT_RETURN_IF_ERROR(check_checksum(file, size, h.header_bytes, meta.value()));
  auto table = safetensors::read_tensor_table(h.json, h.data_bytes);
  if (!table) return table.status();
  const std::string* graph_text = find_meta(meta.value(), "graph");
  if (!graph_text) return Status::model("__metadata__.graph is missing");
  auto graph_json = json::parse(graph_text->data(), graph_text->size());
  if (!graph_json) return graph_json.status().with_context("graph");
  auto g = read_graph(graph_json.value(), table.value(), file + h.data_offset);
  if (!g) return g.status();
  Model m;
  m.graph = std::move(g).value();
  m.format_version = version.value();
  for (auto& kv : meta.value())
    if (kv.first != "graph") m.metadata.push_back(kv);
  return m;
}

}  // namespace

Result<Model> load_model_bytes(const uint8_t* data, size_t size) {
  try {
    return load(data, size);
  } catch (const std::bad_alloc&) {
    return Status::model("out of memory while loading the model");
  } catch (const std::exception& e) {
    return Status::internal(std::string("loading the model: ") + e.what());
  }
}

Result<Model> load_model_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::io("cannot open model file '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::io("model path '" + path + "' is not a regular file");
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::io("cannot open model file '" + path + "': " + std::strerror(errno));
  if (std::fseek(f.get(), 0, SEEK_END) != 0) return Status::io("cannot seek in '" + path + "'");
  const long size = std::ftell(f.get());
  if (size < 0) return Status::io("cannot size '" + path + "' (is it a directory?)");
  std::fseek(f.get(), 0, SEEK_SET);
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(size_t(size));  // the file's real size: the only size trusted before parsing
  } catch (const std::bad_alloc&) {
    return Status::io("model file '" + path + "' is too large to read");
  }
  if (size > 0 && std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    return Status::io("cannot read model file '" + path + "'");
  auto m = load_model_bytes(bytes.data(), bytes.size());
  if (!m) return m.status().with_context(path);
  return m;
}

}  // namespace facert::model
