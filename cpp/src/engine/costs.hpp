// The measured cost model for one engine: each op timed alone on each device (the executor's per-step timing
// over single-device plans), transfers timed both ways over an alternating plan and fitted by bytes. Cached as
// JSON in <cache dir>/costs/, keyed by the CPU (ISA, threads), the OpenCL device and driver, the model's hash
// and facert's version; any cache failure is a miss.
#pragma once
#include <string>
#include <vector>

#include "sched/backend.hpp"
#include "sched/cost.hpp"
#include "sched/placement.hpp"

namespace facert::engine {

struct CostRequest {
  const graph::Graph* graph = nullptr;
  sched::Backend* const* backends = nullptr;                      // cpu, gpu
  const std::vector<sched::Execution*>* executions = nullptr;     // [device][op], null where not supported
  const sched::Layout* layouts = nullptr;
  std::string cache_dir;   // resolved
  std::string key;         // what the costs depend on (hashed into the file name)
};

// Throws what the executions throw.
sched::CostModel measured_costs(const CostRequest& r);

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull);

// A plan on paper: the model's graph scheduled on a device profile (no device needed), for `facert plan`.
struct PaperPlan {
  sched::Schedule schedule;
  std::string source;  // the profile's name
  std::string text;    // the chosen plan, with predicted ms per step
};
// precision: the OpenCL side's storage ("fp32" | "fp16"): byte sizes in its arena.
Result<PaperPlan> plan_from_profile(const std::string& model_path, const std::string& profile_json,
                                    const std::string& precision);

}  // namespace facert::engine
