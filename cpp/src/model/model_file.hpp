// Loading sq.bin (docs/format.md): container, metadata, checksum, tensor table, graph, weights.
// Every check of the format's "Loader checks" lives behind load_model_*; failures are
// ModelError-kind Statuses (Io-kind when the file cannot be read at all).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.hpp"
#include "model/status.hpp"

namespace facert::model {

constexpr int kFormatVersion = 1;

struct Model {
  graph::Graph graph;
  int format_version = 0;
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__ without "graph", file order
};

Result<Model> load_model_bytes(const uint8_t* data, size_t size);
Result<Model> load_model_file(const std::string& path);

}  // namespace facert::model
