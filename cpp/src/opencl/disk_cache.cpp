#include "opencl/disk_cache.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

namespace facert::opencl {
namespace {

// Entry layout: magic[8] "FCRTCL01", u32 key_size, u32 crc32(key + payload), u64 payload_size, key, payload.
constexpr char kMagic[8] = {'F', 'C', 'R', 'T', 'C', 'L', '0', '1'};
constexpr size_t kHeader = 8 + 4 + 4 + 8;
constexpr uint64_t kMaxPayload = uint64_t(1) << 30;

std::string fnv_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool make_dirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

uint32_t crc_update(uint32_t crc, const unsigned char* data, size_t size) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

}  // namespace

uint32_t crc32(const unsigned char* data, size_t size) { return ~crc_update(0xFFFFFFFFu, data, size); }

std::string resolve_cache_dir(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (const char* env = std::getenv("FACERT_CACHE_DIR"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/facert";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/facert";
  return {};
}

DiskCache::DiskCache(const std::string& root, const std::string& kind) {
  if (!root.empty()) dir_ = root + "/" + kind;
}

std::string DiskCache::path_for(const std::string& key) const { return dir_ + "/" + fnv_hex(key) + ".bin"; }

bool DiskCache::load(const std::string& key, std::vector<unsigned char>* payload, std::string* why) const {
  if (!enabled()) return *why = "cache disabled", false;
  const std::string path = path_for(key);
  std::ifstream f(path, std::ios::binary);
  if (!f) return *why = "absent", false;
  auto corrupt = [&](const char* what) {
    f.close();
    std::remove(path.c_str());  // rebuilt by the caller, never trusted again
    *why = std::string("corrupt entry (") + what + "), removed";
    return false;
  };
  unsigned char head[kHeader];
  if (!f.read(reinterpret_cast<char*>(head), kHeader)) return corrupt("short header");
  if (std::memcmp(head, kMagic, 8) != 0) return corrupt("bad magic");
  uint32_t key_size, crc;
  uint64_t size;
  std::memcpy(&key_size, head + 8, 4);
  std::memcpy(&crc, head + 12, 4);
  std::memcpy(&size, head + 16, 8);
  if (key_size != key.size() || size > kMaxPayload) return corrupt("bad sizes");
  std::string stored_key(key_size, '\0');
  std::vector<unsigned char> data(size);
  if (!f.read(stored_key.data(), key_size) || !f.read(reinterpret_cast<char*>(data.data()), size))
    return corrupt("truncated");
  if (f.peek() != std::char_traits<char>::eof()) return corrupt("trailing bytes");
  uint32_t actual = crc_update(0xFFFFFFFFu, reinterpret_cast<const unsigned char*>(stored_key.data()), key_size);
  actual = ~crc_update(actual, data.data(), data.size());
  if (actual != crc) return corrupt("checksum mismatch");
  if (stored_key != key) return *why = "hash collision with another key", false;
  *payload = std::move(data);
  return true;
}

bool DiskCache::store(const std::string& key, const std::vector<unsigned char>& payload) const {
  if (!enabled() || !make_dirs(dir_)) return false;
  const std::string path = path_for(key);
  const std::string tmp = path + ".tmp" + std::to_string(std::random_device{}());
  uint32_t crc = crc_update(0xFFFFFFFFu, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crc = ~crc_update(crc, payload.data(), payload.size());
  const uint32_t key_size = static_cast<uint32_t>(key.size());
  const uint64_t size = payload.size();
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(kMagic, 8);
    f.write(reinterpret_cast<const char*>(&key_size), 4);
    f.write(reinterpret_cast<const char*>(&crc), 4);
    f.write(reinterpret_cast<const char*>(&size), 8);
    f.write(key.data(), key.size());
    f.write(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (!f) {
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace facert::opencl
