// Tuned local work-group sizes per (kernel, global size), kept in their own cache folder ("tuning"), apart
// from program binaries. Loaded once per runtime; new entries are written back by save_if_changed().
#pragma once
#include <array>
#include <map>
#include <mutex>
#include <string>

#include "opencl/devices.hpp"
#include "opencl/disk_cache.hpp"

namespace facert::opencl {

using WorkSize = std::array<size_t, 3>;  // {0,0,0} = let the driver choose (local size NULL)

class TuningTable {
 public:
  // Entries read from disk are checked against the device's work-group limits; one that does not fit
  // (a checksum-valid -1 reads as SIZE_MAX) is dropped, to be retuned.
  TuningTable(const std::string& cache_root, const std::string& device_key, const DeviceInfo& device);
  bool find(const std::string& key, WorkSize* local) const;
  void insert(const std::string& key, const WorkSize& local);
  void erase(const std::string& key);  // a tuned size whose launch failed: retune it
  // {0,0,0} (driver's choice) or every dimension >= 1, within the device's per-dimension and total limits.
  static bool fits(const WorkSize& local, const DeviceInfo& device);
  void save_if_changed();
  size_t size() const;
  bool loaded_from_disk() const { return loaded_; }

 private:
  DiskCache cache_;
  std::string device_key_;
  mutable std::mutex mutex_;
  std::map<std::string, WorkSize> table_;
  bool dirty_ = false, loaded_ = false;
};

}  // namespace facert::opencl
