// Anchor selection: uniform, farthest-point sampling, k-means snapped to real rows.
#include "relgeo/anchors.h"

#include <Eigen/Dense>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

namespace relgeo {
namespace {

using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Deterministic on every platform: own draws from mt19937_64 (std distributions are not portable).
uint64_t Below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }
double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }

// Squared distances from every pool row to point p (a row of `c`).
Eigen::VectorXf SqDistTo(const RowMatF& x, const Eigen::VectorXf& sq, const Eigen::RowVectorXf& p) {
  Eigen::VectorXf d = sq - 2.0f * (x * p.transpose());
  d.array() += p.squaredNorm();
  return d.cwiseMax(0.0f);
}

}  // namespace

const char* AnchorSelectionName(AnchorSelection s) {
  switch (s) {
    case AnchorSelection::kUniform: return "uniform";
    case AnchorSelection::kFarthestPoint: return "fps";
    case AnchorSelection::kKMeans: return "kmeans";
  }
  return "unknown";
}

Result<AnchorSelection> ParseAnchorSelection(const std::string& name) {
  if (name == "uniform" || name == "random") return AnchorSelection::kUniform;
  if (name == "fps" || name == "farthest") return AnchorSelection::kFarthestPoint;
  if (name == "kmeans") return AnchorSelection::kKMeans;
  return Status::InvalidArgument("unknown anchor selection '" + name + "' (expected uniform, fps or kmeans)");
}

Matrix GatherRows(MatrixView m, const std::vector<int64_t>& rows) {
  Matrix out(static_cast<int64_t>(rows.size()), m.cols());
  for (size_t i = 0; i < rows.size(); ++i) std::copy(m.row(rows[i]), m.row(rows[i]) + m.cols(), out.row(static_cast<int64_t>(i)));
  return out;
}

Result<std::vector<int64_t>> SelectAnchors(MatrixView pool, int64_t k, AnchorSelection sel, uint64_t seed) {
  const int64_t n = pool.rows();
  if (k < 1) return Status::InvalidArgument("anchor count must be >= 1, got " + std::to_string(k));
  if (k > n)
    return Status::InvalidArgument("cannot choose " + std::to_string(k) + " anchors from a pool of " +
                                   std::to_string(n) + " rows");
  RELGEO_RETURN_IF_ERROR(CheckLatents(pool, 0, "anchor pool"));
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out;
  if (sel == AnchorSelection::kUniform) {
    // Partial Fisher-Yates: the first k of a seeded permutation (prefixes nest).
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    for (int64_t i = 0; i < k; ++i) std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(i + Below(rng, n - i))]);
    out.assign(perm.begin(), perm.begin() + k);
    return out;
  }
  RowMatF x = Eigen::Map<const RowMatF>(pool.data(), n, pool.cols());
  Eigen::VectorXf sq = x.rowwise().squaredNorm();
  if (sel == AnchorSelection::kFarthestPoint) {
    out.push_back(static_cast<int64_t>(Below(rng, n)));
    Eigen::VectorXf best = SqDistTo(x, sq, x.row(out[0]));
    while (static_cast<int64_t>(out.size()) < k) {
      Eigen::Index far = 0;
      best.maxCoeff(&far);
      out.push_back(far);
      best = best.cwiseMin(SqDistTo(x, sq, x.row(far)));
      best(far) = -1.0f;  // chosen rows are never chosen again, even with duplicates in the pool
      for (int64_t c : out) best(c) = -1.0f;
    }
    return out;
  }
  // k-means++ initialisation.
  RowMatF centers(k, pool.cols());
  centers.row(0) = x.row(static_cast<Eigen::Index>(Below(rng, n)));
  Eigen::VectorXf best = SqDistTo(x, sq, centers.row(0));
  for (int64_t c = 1; c < k; ++c) {
    const double total = best.cast<double>().sum();
    int64_t pick = static_cast<int64_t>(Below(rng, n));
    if (total > 0) {
      double r = Unit(rng) * total, acc = 0;
      for (int64_t i = 0; i < n; ++i) {
        acc += best(i);
        if (acc >= r) {
          pick = i;
          break;
        }
      }
    }
    centers.row(c) = x.row(pick);
    best = best.cwiseMin(SqDistTo(x, sq, centers.row(c)));
  }
  // Lloyd iterations.
  std::vector<int64_t> assign(static_cast<size_t>(n), -1);
  for (int iter = 0; iter < 25; ++iter) {
    RowMatF g = x * centers.transpose();  // n x k
    Eigen::VectorXf csq = centers.rowwise().squaredNorm();
    bool changed = false;
    for (int64_t i = 0; i < n; ++i) {
      Eigen::Index a = 0;
      (csq.transpose() - 2.0f * g.row(i)).minCoeff(&a);
      if (assign[static_cast<size_t>(i)] != a) changed = true;
      assign[static_cast<size_t>(i)] = a;
    }
    RowMatF sum = RowMatF::Zero(k, pool.cols());
    std::vector<int64_t> count(static_cast<size_t>(k), 0);
    for (int64_t i = 0; i < n; ++i) {
      sum.row(assign[static_cast<size_t>(i)]) += x.row(i);
      ++count[static_cast<size_t>(assign[static_cast<size_t>(i)])];
    }
    for (int64_t c = 0; c < k; ++c)
      if (count[static_cast<size_t>(c)] > 0) centers.row(c) = sum.row(c) / static_cast<float>(count[static_cast<size_t>(c)]);
    if (!changed) break;
  }
  // Snap each centroid to its nearest row not yet taken.
  std::vector<char> taken(static_cast<size_t>(n), 0);
  for (int64_t c = 0; c < k; ++c) {
    Eigen::VectorXf d = SqDistTo(x, sq, centers.row(c));
    int64_t bi = -1;
    float bd = std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i)
      if (!taken[static_cast<size_t>(i)] && d(i) < bd) {
        bd = d(i);
        bi = i;
      }
    taken[static_cast<size_t>(bi)] = 1;
    out.push_back(bi);
  }
  return out;
}

}  // namespace relgeo
