#include "opencl/tuning.hpp"

#include <sstream>

namespace facert::opencl {

// Payload: text lines "<kernel>:<gx>,<gy>,<gz> <lx> <ly> <lz>".
TuningTable::TuningTable(const std::string& cache_root, const std::string& device_key, const DeviceInfo& device)
    : cache_(cache_root, "tuning"), device_key_("tuning v1|" + device_key) {
  std::vector<unsigned char> payload;
  std::string why;
  if (!cache_.load(device_key_, &payload, &why)) return;
  std::istringstream in(std::string(payload.begin(), payload.end()));
  std::string key;
  WorkSize local;
  while (in >> key >> local[0] >> local[1] >> local[2]) {
    if (fits(local, device)) table_[key] = local;
    else dirty_ = true;  // written back without it
  }
  loaded_ = true;
}

bool TuningTable::fits(const WorkSize& local, const DeviceInfo& device) {
  if (local[0] == 0 && local[1] == 0 && local[2] == 0) return true;
  size_t total = 1;
  for (int d = 0; d < 3; ++d) {
    if (local[d] < 1 || local[d] > device.max_work_item_sizes[d]) return false;
    total *= local[d];  // each factor <= the device's item limit: no overflow
  }
  return total <= device.max_work_group_size;
}

void TuningTable::erase(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  dirty_ = table_.erase(key) > 0 || dirty_;
}

bool TuningTable::find(const std::string& key, WorkSize* local) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = table_.find(key);
  if (it == table_.end()) return false;
  *local = it->second;
  return true;
}

void TuningTable::insert(const std::string& key, const WorkSize& local) {
  std::lock_guard<std::mutex> lock(mutex_);
  table_[key] = local;
  dirty_ = true;
}

void TuningTable::save_if_changed() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!dirty_) return;
  std::ostringstream out;
  for (const auto& [key, l] : table_) out << key << ' ' << l[0] << ' ' << l[1] << ' ' << l[2] << '\n';
  const std::string text = out.str();
  cache_.store(device_key_, std::vector<unsigned char>(text.begin(), text.end()));
  dirty_ = false;
}

size_t TuningTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return table_.size();
}

}  // namespace facert::opencl
