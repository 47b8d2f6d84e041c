// The encoder's option names (OutputDistance, PathMode), apart from the LibTorch files
// that use them so that torch-free code (the stored records and their fuzzers) links
// them alone.
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
  return Status::InvalidArgument("unknown output distance '" + name + "' (expected euclidean, sphere or fisher)");
}

const char* PathModeName(PathMode m) { return m == PathMode::kLength ? "length" : "energy"; }

Result<PathMode> ParsePathMode(const std::string& name) {
  if (name == "length") return PathMode::kLength;
  if (name == "energy") return PathMode::kEnergy;
  return Status::InvalidArgument("unknown path mode '" + name + "' (expected length or energy)");
}

}  // namespace relgeo
