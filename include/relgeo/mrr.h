// Mean reciprocal rank for cross-space retrieval (docs/design.md §2). Row i of the
// first space must retrieve row i of the second. With S the n x n similarity
// matrix, rank_i = 1 + #{j != i : S_ij >= S_ii} (ties count against the query) and
// MRR = mean_i 1/rank_i; @k counts 1/rank_i only when rank_i <= k. The symmetric
// variant (the paper's headline) first sets S <- (S + S^T) / 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

enum class Similarity {
  kCosine,  // cosine similarity of rows (a zero row has similarity 0 to everything)
  kCdist,   // negative Euclidean distance
};
const char* SimilarityName(Similarity s);          // "cosine" | "cdist"

struct MrrOptions {
  Similarity similarity = Similarity::kCosine;
  bool symmetric = true;
  int64_t k = 0;  // > 0: MRR@k
};

// Ranks from an explicit n x n similarity matrix (row = query, column = candidate).
Result<std::vector<int64_t>> RanksFromSimilarity(MatrixView similarity, bool symmetric);
// Ranks of x2's row i for x1's row i, for n x d representations (same n and d).
// Works in row blocks: memory O(block * n), never the full n x n matrix.
Result<std::vector<int64_t>> RetrievalRanks(MatrixView x1, MatrixView x2, Similarity similarity, bool symmetric);
// Mean of 1/rank (k > 0: only ranks <= k count). Empty ranks give 0.
double MrrFromRanks(const std::vector<int64_t>& ranks, int64_t k = 0);
Result<double> MeanReciprocalRank(MatrixView x1, MatrixView x2, const MrrOptions& options = {});

// Every variant at once (cosine/cdist x symmetric/asymmetric, full and @k).
struct MrrReport {
  double cosine_sym = 0, cosine = 0, cdist_sym = 0, cdist = 0;          // full rank
  double cosine_sym_at_k = 0, cosine_at_k = 0, cdist_sym_at_k = 0, cdist_at_k = 0;  // @k
  int64_t k = 0;
};
Result<MrrReport> MrrAllVariants(MatrixView x1, MatrixView x2, int64_t k = 10);

}  // namespace relgeo
