#include "opencl/disk_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include "opencl/sha256.hpp"

namespace facert::opencl {
namespace {

// Entry layout: magic[8] "FCRTCL02", u32 key_size, u32 0, u64 payload_size, sha256(key + payload)[32], key,
// payload. The file's length must be exactly what the sizes say, and the hash must match, before a byte of
// the payload is handed to anyone (a driver given a truncated binary may abort the process).
constexpr char kMagic[8] = {'F', 'C', 'R', 'T', 'C', 'L', '0', '2'};
constexpr size_t kHeader = 8 + 4 + 4 + 8 + 32;
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
    if (mkdir(part.c_str(), 0755) == 0) {
      ::chmod(part.c_str(), 0755);  // whatever the umask: a group-writable folder would be refused below
    } else if (errno != EEXIST) {
      return false;
    }
  }
  return true;
}

std::array<uint8_t, 32> digest(const std::string& key, const unsigned char* payload, size_t size) {
  Sha256 h;
  h.update(key.data(), key.size());
  h.update(payload, size);
  return h.finish();
}

// As ssh with a loose key file: a path that another user can write is not trusted. "" when it is safe.
std::string untrusted(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};  // absent: nothing to read yet
  if (st.st_uid != ::geteuid()) return path + " belongs to another user";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return path + " is writable by others (mode " + mode + "; chmod go-w it)";
  }
  return {};
}

}  // namespace

std::string resolve_cache_dir(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (const char* env = std::getenv("FACERT_CACHE_DIR"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/facert";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/facert";
  return {};
}

DiskCache::DiskCache(const std::string& root, const std::string& kind) {
  if (!root.empty()) root_ = root, dir_ = root + "/" + kind;
}

std::string DiskCache::path_for(const std::string& key) const { return dir_ + "/" + fnv_hex(key) + ".bin"; }

std::string DiskCache::refusal() const {
  for (const std::string& p : {root_, dir_}) {
    std::string why = untrusted(p);
    if (!why.empty()) return "cache not used: " + why;
  }
  return {};
}

bool DiskCache::load(const std::string& key, std::vector<unsigned char>* payload, std::string* why) const {
  if (!enabled()) return *why = "cache disabled", false;
  if (std::string r = refusal(); !r.empty()) return *why = r, false;
  const std::string path = path_for(key);
  std::ifstream f(path, std::ios::binary);
  if (!f) return *why = "absent", false;
  if (std::string r = untrusted(path); !r.empty()) return *why = "cache entry not used: " + r, false;
  auto corrupt = [&](const char* what) {
    f.close();
    std::remove(path.c_str());  // rebuilt by the caller, never trusted again
    *why = std::string("corrupt entry (") + what + "), removed";
    return false;
  };
  unsigned char head[kHeader];
  if (!f.read(reinterpret_cast<char*>(head), kHeader)) return corrupt("short header");
  if (std::memcmp(head, kMagic, 8) != 0) return corrupt("bad magic");
  uint32_t key_size;
  uint64_t size;
  std::memcpy(&key_size, head + 8, 4);
  std::memcpy(&size, head + 16, 8);
  if (key_size != key.size() || size > kMaxPayload) return corrupt("bad sizes");
  f.seekg(0, std::ios::end);
  if (uint64_t(f.tellg()) != kHeader + key_size + size) return corrupt("length differs from the stored sizes");
  f.seekg(kHeader);
  std::string stored_key(key_size, '\0');
  std::vector<unsigned char> data(size);
  if (!f.read(stored_key.data(), key_size) || !f.read(reinterpret_cast<char*>(data.data()), size))
    return corrupt("truncated");
  if (std::memcmp(digest(stored_key, data.data(), data.size()).data(), head + 24, 32) != 0)
    return corrupt("SHA-256 mismatch");
  if (stored_key != key) return *why = "hash collision with another key", false;
  *payload = std::move(data);
  return true;
}

bool DiskCache::store(const std::string& key, const std::vector<unsigned char>& payload) const {
  if (!enabled() || !make_dirs(dir_) || !refusal().empty()) return false;
  const std::string path = path_for(key);
  const std::string tmp = path + ".tmp" + std::to_string(std::random_device{}());
  const auto hash = digest(key, payload.data(), payload.size());
  const uint32_t key_size = static_cast<uint32_t>(key.size()), reserved = 0;
  const uint64_t size = payload.size();
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(kMagic, 8);
    f.write(reinterpret_cast<const char*>(&key_size), 4);
    f.write(reinterpret_cast<const char*>(&reserved), 4);
    f.write(reinterpret_cast<const char*>(&size), 8);
    f.write(reinterpret_cast<const char*>(hash.data()), 32);
    f.write(key.data(), key.size());
    f.write(reinterpret_cast<const char*>(payload.data()), payload.size());
    f.flush();
    if (!f) {
      f.close();
      std::remove(tmp.c_str());
      return false;
    }
  }
  // 0644 whatever the umask (0002 is common): load() refuses an entry others can write
  if (::chmod(tmp.c_str(), 0644) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace facert::opencl
