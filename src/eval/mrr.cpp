// MRR (docs/design.md §2). Similarities are computed in row blocks with Eigen GEMMs:
// for the symmetric variant the block of S and the matching block of S^T (the
// similarities of space 2's rows to space 1) are averaged, so the full n x n
// matrix never exists. Ranks compare every candidate against the diagonal entry
// of the same (symmetrised) block, so ties are judged on identical arithmetic.
#include "relgeo/mrr.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>

namespace relgeo {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat>;

constexpr int64_t kBlock = 512;

// Prepares one space for its similarity: rows L2-normalised (cosine) or the
// squared norms (cdist).
struct Prepared {
  RowMat x;
  Eigen::VectorXf sq;  // squared row norms (cdist)
};

Prepared Prepare(MatrixView m, Similarity s) {
  Prepared p;
  p.x = ConstMap(m.data(), m.rows(), m.cols());
  if (s == Similarity::kCosine) {
    for (int64_t i = 0; i < p.x.rows(); ++i) {
      const double n = p.x.row(i).cast<double>().norm();
      if (n > 0) p.x.row(i) /= static_cast<float>(n);
    }
  } else {
    p.sq = p.x.rowwise().squaredNorm();
  }
  return p;
}

// Similarities of rows [r0, r0 + rb) of `q` against every row of `c`: rb x n.
RowMat Block(const Prepared& q, const Prepared& c, int64_t r0, int64_t rb, Similarity s) {
  RowMat b = q.x.middleRows(r0, rb) * c.x.transpose();
  if (s == Similarity::kCdist) {
    for (int64_t i = 0; i < rb; ++i)
      for (int64_t j = 0; j < b.cols(); ++j)
        b(i, j) = -std::sqrt(std::max(0.0f, q.sq(r0 + i) + c.sq(j) - 2.0f * b(i, j)));
  }
  return b;
}

int64_t RankInRow(const float* row, int64_t n, int64_t i) {
  const float self = row[i];
  int64_t rank = 1;
  for (int64_t j = 0; j < n; ++j)
    if (j != i && row[j] >= self) ++rank;
  return rank;
}

}  // namespace

const char* SimilarityName(Similarity s) { return s == Similarity::kCosine ? "cosine" : "cdist"; }

Result<std::vector<int64_t>> RanksFromSimilarity(MatrixView s, bool symmetric) {
  if (s.rows() != s.cols() || s.rows() == 0)
    return Status::InvalidArgument("similarity matrix must be square and non-empty, got " + std::to_string(s.rows()) +
                                   " x " + std::to_string(s.cols()));
  const int64_t n = s.rows();
  std::vector<int64_t> ranks(static_cast<size_t>(n));
  std::vector<float> row(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) row[static_cast<size_t>(j)] = symmetric ? (s(i, j) + s(j, i)) * 0.5f : s(i, j);
    if (std::any_of(row.begin(), row.end(), [](float v) { return std::isnan(v); }))
      return Status::InvalidArgument("similarity matrix row " + std::to_string(i) + " contains NaN");
    ranks[static_cast<size_t>(i)] = RankInRow(row.data(), n, i);
  }
  return ranks;
}

namespace {
Status CheckPair(MatrixView x1, MatrixView x2) {
  if (x1.rows() != x2.rows() || x1.cols() != x2.cols())
    return Status::InvalidArgument("representations must have equal shapes, got " + std::to_string(x1.rows()) + " x " +
                                   std::to_string(x1.cols()) + " and " + std::to_string(x2.rows()) + " x " +
                                   std::to_string(x2.cols()));
  RELGEO_RETURN_IF_ERROR(CheckLatents(x1, 0, "space-1 representations"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(x2, 0, "space-2 representations"));
  return Status::OK();
}

// Symmetric and/or asymmetric ranks in one pass over the row blocks.
void RanksBoth(MatrixView x1, MatrixView x2, Similarity sim, std::vector<int64_t>* sym, std::vector<int64_t>* asym) {
  const int64_t n = x1.rows();
  Prepared p1 = Prepare(x1, sim), p2 = Prepare(x2, sim);
  if (sym) sym->assign(static_cast<size_t>(n), 0);
  if (asym) asym->assign(static_cast<size_t>(n), 0);
  for (int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const int64_t rb = std::min(kBlock, n - r0);
    RowMat b = Block(p1, p2, r0, rb, sim);
    if (asym) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < rb; ++i) (*asym)[static_cast<size_t>(r0 + i)] = RankInRow(b.row(i).data(), n, r0 + i);
    }
    if (sym) {
      b = (b + Block(p2, p1, r0, rb, sim)) * 0.5f;  // rows r0.. of S^T: sims of x2[r] to every x1
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < rb; ++i) (*sym)[static_cast<size_t>(r0 + i)] = RankInRow(b.row(i).data(), n, r0 + i);
    }
  }
}
}  // namespace

Result<std::vector<int64_t>> RetrievalRanks(MatrixView x1, MatrixView x2, Similarity sim, bool symmetric) {
  RELGEO_RETURN_IF_ERROR(CheckPair(x1, x2));
  std::vector<int64_t> ranks;
  RanksBoth(x1, x2, sim, symmetric ? &ranks : nullptr, symmetric ? nullptr : &ranks);
  return ranks;
}

double MrrFromRanks(const std::vector<int64_t>& ranks, int64_t k) {
  if (ranks.empty()) return 0;
  double sum = 0;
  for (int64_t r : ranks)
    if (k <= 0 || r <= k) sum += 1.0 / static_cast<double>(r);
  return sum / static_cast<double>(ranks.size());
}

Result<double> MeanReciprocalRank(MatrixView x1, MatrixView x2, const MrrOptions& o) {
  RELGEO_ASSIGN_OR_RETURN(std::vector<int64_t> ranks, RetrievalRanks(x1, x2, o.similarity, o.symmetric));
  return MrrFromRanks(ranks, o.k);
}

Result<MrrReport> MrrAllVariants(MatrixView x1, MatrixView x2, int64_t k) {
  MrrReport r;
  r.k = k;
  RELGEO_RETURN_IF_ERROR(CheckPair(x1, x2));
  for (Similarity s : {Similarity::kCosine, Similarity::kCdist}) {
    std::vector<int64_t> sym, asym;
    RanksBoth(x1, x2, s, &sym, &asym);
    (s == Similarity::kCosine ? r.cosine_sym : r.cdist_sym) = MrrFromRanks(sym);
    (s == Similarity::kCosine ? r.cosine : r.cdist) = MrrFromRanks(asym);
    (s == Similarity::kCosine ? r.cosine_sym_at_k : r.cdist_sym_at_k) = MrrFromRanks(sym, k);
    (s == Similarity::kCosine ? r.cosine_at_k : r.cdist_at_k) = MrrFromRanks(asym, k);
  }
  return r;
}

}  // namespace relgeo
