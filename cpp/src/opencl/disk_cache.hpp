// Checksummed files under the user cache directory, one per key. Used for program binaries and, in a
// separate folder, for tuned work-group sizes (so a bad binary cache can be dropped without losing tuning).
// Any failure to read is a miss; a corrupt entry is deleted and rebuilt, never trusted. A cache folder or
// entry that another user could write is not used at all (the reason says so).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace facert::opencl {

// The cache root: `requested` if not empty, else $FACERT_CACHE_DIR, else $XDG_CACHE_HOME/facert, else
// $HOME/.cache/facert. "" when none of these exists (caching is then off).
std::string resolve_cache_dir(const std::string& requested);

class DiskCache {
 public:
  // folder: root/<kind>; created on first store. An empty root disables the cache.
  DiskCache(const std::string& root, const std::string& kind);

  // true and *payload on a hit. On a miss *why says why ("absent", "checksum mismatch", ...).
  bool load(const std::string& key, std::vector<unsigned char>* payload, std::string* why) const;
  // Writes atomically (temporary file + rename); false when the folder is not writable.
  bool store(const std::string& key, const std::vector<unsigned char>& payload) const;
  std::string path_for(const std::string& key) const;
  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  // Why the folder is not trusted ("" when it is): owned by another user, or group/other-writable.
  std::string refusal() const;

 private:
  std::string root_, dir_;
};

}  // namespace facert::opencl
