// The scheduler's cost model: each op's time on each device and each transfer's time by bytes, both ways.
// Measured on the devices (engine/), cached as JSON, or computed from a device-profile JSON (a phone on paper:
// effective GFLOP/s per conv kind, memory bandwidth, per-op overhead, transfer latency and bandwidth).
// predict_ms runs a plan on paper: CPU ops on the host's timeline, OpenCL kernels and transfers on the queue's,
// each step starting once its inputs are ready and its device is free (so split branches overlap).
#pragma once
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "model/status.hpp"
#include "sched/plan.hpp"

namespace facert::sched {

struct TransferCost {
  double latency_ms = 0, ms_per_mib = 0;
  double ms(int64_t bytes) const { return latency_ms + ms_per_mib * double(bytes) / 1048576.0; }
};

struct CostModel {
  std::vector<double> op_ms[kDevices];  // per graph op; a negative value: the device cannot run it
  TransferCost upload, download;        // host NCHW float bytes
  std::string source;                   // "measured", "cache <file>", "profile <name>"
};

// From a device-profile JSON (see profiles/*.json for the fields). ModelError-kind Status naming the field.
Result<CostModel> cost_from_profile(const graph::Graph& g, const std::string& json_text);
std::string cost_to_json(const CostModel& c);
Result<CostModel> cost_from_json(const std::string& text, size_t nops);

// Predicted latency of one image; step_ms: each step's own predicted time (in plan order).
double predict_ms(const Plan& p, const graph::Graph& g, const CostModel& c, std::vector<double>* step_ms = nullptr);

// Least-squares fit of ms = latency + ms_per_mib * MiB over (bytes, ms) samples (latency >= 0).
TransferCost fit_transfer(const std::vector<std::pair<int64_t, double>>& samples);

}  // namespace facert::sched
