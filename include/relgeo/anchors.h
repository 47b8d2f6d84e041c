// Anchor selection from a pool of latents (docs/design.md §2): uniform at random,
// farthest-point sampling, or k-means centroids snapped to the nearest real sample.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

enum class AnchorSelection {
  kUniform,        // k distinct rows uniformly at random
  kFarthestPoint,  // a random first row, then repeatedly the row farthest (L2) from those chosen
  kKMeans,         // k-means++ then Lloyd; each centroid replaced by its nearest unused row
};
const char* AnchorSelectionName(AnchorSelection s);                 // "uniform" | "fps" | "kmeans"
Result<AnchorSelection> ParseAnchorSelection(const std::string& name);

// Returns k distinct row indices of `pool` (n x d), deterministic for a seed. For
// uniform and farthest-point the result for k is a prefix of the result for any
// larger k with the same seed (nested anchor sets). k > n is InvalidArgument.
Result<std::vector<int64_t>> SelectAnchors(MatrixView pool, int64_t k, AnchorSelection selection, uint64_t seed);

// The given rows of m, in order.
Matrix GatherRows(MatrixView m, const std::vector<int64_t>& rows);

}  // namespace relgeo
