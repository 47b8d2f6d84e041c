// For records_fuzzer and index_file_fuzzer: the four name functions that
// src/database/records.cpp calls live in LibTorch-linked files
// (src/encoder/metric_map.cpp, relative_encoder.cpp), so the fuzzers link these
// copies instead. Keep them in step with those (they are plain name tables).
#include "relgeo/metric_map.h"
#include "relgeo/relative_encoder.h"

namespace relgeo {

const char* OutputDistanceName(OutputDistance d) {
  switch (d) {
    case OutputDistance::kEuclidean: return "euclidean";
    case OutputDistance::kSphere: return "sphere";
    case OutputDistance::kFisher: return "fisher";
  }
  return "unknown";
}

Result<OutputDistance> ParseOutputDistance(const std::string& name) {
  if (name == "euclidean" || name == "l2") return OutputDistance::kEuclidean;
  if (name == "sphere") return OutputDistance::kSphere;
  if (name == "fisher") return OutputDistance::kFisher;
  return Status::InvalidArgument("unknown output distance '" + name + "'");
}

const char* PathModeName(PathMode m) { return m == PathMode::kLength ? "length" : "energy"; }

Result<PathMode> ParsePathMode(const std::string& name) {
  if (name == "length") return PathMode::kLength;
  if (name == "energy") return PathMode::kEnergy;
  return Status::InvalidArgument("unknown path mode '" + name + "'");
}

}  // namespace relgeo
