// The `graph` metadata entry of sq.bin (docs/format.md "The graph") -> graph::Graph, weights included.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/graph.hpp"
#include "model/json.hpp"
#include "model/safetensors.hpp"
#include "model/status.hpp"

namespace facert::model {

// Reads ops and attributes (exact key sets, typed, in range), resolves tensor and weight names,
// copies the referenced weights out of `data` (the data section) as fp32, then runs shape inference.
Result<graph::Graph> read_graph(const json::Value& graph_json, const std::vector<safetensors::TensorEntry>& table,
                                const uint8_t* data);

}  // namespace facert::model
