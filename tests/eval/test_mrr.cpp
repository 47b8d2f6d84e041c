// Mean reciprocal rank (src/eval/mrr.cpp) on hand-computed matrices: ties,
// symmetric and asymmetric, @k, blocked computation.
#include <gtest/gtest.h>

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>


#include "fixtures.h"
#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/autoencoder.h"
#include "relgeo/datasets.h"
#include "relgeo/sweep.h"
#include "relgeo/metric_map.h"
#include "relgeo/mrr.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// ---------------------------------------------------------------- MRR

TEST(Mrr, HandComputedTiesSymmetricAsymmetricAndAtK) {
  // Asymmetric ranks: row 0 ties with column 1 (tie counts against the query) -> 2;
  // row 1: 0.7 > 0.5 -> 2; row 2 -> 1.
  Matrix s = FromRows({{0.9f, 0.9f, 0.1f}, {0.2f, 0.5f, 0.7f}, {0.3f, 0.3f, 0.8f}});
  auto asym = RanksFromSimilarity(s, false);
  ASSERT_TRUE(asym.ok());
  EXPECT_EQ(*asym, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_NEAR(MrrFromRanks(*asym), (0.5 + 0.5 + 1.0) / 3, 1e-12);
  EXPECT_NEAR(MrrFromRanks(*asym, 1), 1.0 / 3, 1e-12);
  EXPECT_NEAR(MrrFromRanks(*asym, 2), 2.0 / 3, 1e-12);
  // Symmetrised: [[.9,.55,.2],[.55,.5,.5],[.2,.5,.8]] -> row 1 has 0.55 above and a 0.5 tie -> 3.
  auto sym = RanksFromSimilarity(s, true);
  ASSERT_TRUE(sym.ok());
  EXPECT_EQ(*sym, (std::vector<int64_t>{1, 3, 1}));
  EXPECT_NEAR(MrrFromRanks(*sym), (1 + 1.0 / 3 + 1) / 3, 1e-12);
  EXPECT_NEAR(MrrFromRanks(*sym, 2), 2.0 / 3, 1e-12);
  EXPECT_NEAR(MrrFromRanks(*sym, 3), (1 + 1.0 / 3 + 1) / 3, 1e-12);
  EXPECT_FALSE(RanksFromSimilarity(Matrix(2, 3), false).ok());
}

TEST(Mrr, IdenticalCandidatesTieAgainstTheQuery) {
  // x2 has rows 0 and 1 equal: each of queries 0 and 1 ties with the other -> rank 2.
  Matrix x1 = FromRows({{1, 0}, {1, 0.01f}, {0, 1}});
  Matrix x2 = FromRows({{1, 0}, {1, 0}, {0, 1}});
  for (Similarity sim : {Similarity::kCosine, Similarity::kCdist}) {
    auto r = RetrievalRanks(x2, x2, sim, false);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)[0], 2);
    EXPECT_EQ((*r)[1], 2);
    EXPECT_EQ((*r)[2], 1);
  }
  auto r = RetrievalRanks(x1, x1, Similarity::kCosine, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int64_t>{1, 1, 1}));
}

TEST(Mrr, BlockedComputationMatchesExplicitMatrix) {
  // 700 rows crosses the 512-row block boundary.
  const int64_t n = 700, d = 5;
  Matrix x1 = RandomMatrix(n, d, 11), noise = RandomMatrix(n, d, 12, 0.8f);
  Matrix x2(n, d);
  for (int64_t i = 0; i < x2.size(); ++i) x2.data()[i] = x1.data()[i] + noise.data()[i];
  for (Similarity sim : {Similarity::kCosine, Similarity::kCdist}) {
    Matrix s(n, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0, n1 = 0, n2 = 0, dist = 0;
        for (int64_t k = 0; k < d; ++k) {
          dot += double(x1(i, k)) * x2(j, k);
          n1 += double(x1(i, k)) * x1(i, k);
          n2 += double(x2(j, k)) * x2(j, k);
          dist += (double(x1(i, k)) - x2(j, k)) * (double(x1(i, k)) - x2(j, k));
        }
        s(i, j) = sim == Similarity::kCosine ? static_cast<float>(dot / std::sqrt(n1 * n2))
                                             : static_cast<float>(-std::sqrt(dist));
      }
    for (bool symmetric : {false, true}) {
      auto want = RanksFromSimilarity(s, symmetric);
      auto got = RetrievalRanks(x1, x2, sim, symmetric);
      ASSERT_TRUE(want.ok() && got.ok());
      int64_t differ = 0;
      for (int64_t i = 0; i < n; ++i) differ += (*want)[i] != (*got)[i];
      EXPECT_LE(differ, 2) << SimilarityName(sim) << " symmetric=" << symmetric;  // float rounding near ties only
      const double a = MrrFromRanks(*want), b = MrrFromRanks(*got);
      EXPECT_NEAR(a, b, 2e-3);
      EXPECT_GT(a, 0.01);
      EXPECT_LT(a, 0.99);
    }
  }
  auto all = MrrAllVariants(x1, x2, 5);
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->cosine_sym, all->cosine_sym_at_k);
  EXPECT_GE(all->cdist, all->cdist_at_k);
}

TEST(Mrr, PerfectAndShuffledRetrieval) {
  Matrix x = RandomMatrix(200, 8, 3);
  auto same = MeanReciprocalRank(x, x);
  ASSERT_TRUE(same.ok());
  EXPECT_DOUBLE_EQ(*same, 1.0);
  Matrix shifted(200, 8);
  for (int64_t i = 0; i < 200; ++i) std::copy(x.row((i + 1) % 200), x.row((i + 1) % 200) + 8, shifted.row(i));
  auto wrong = MeanReciprocalRank(x, shifted, {Similarity::kCdist, false, 0});
  ASSERT_TRUE(wrong.ok());
  EXPECT_LT(*wrong, 0.1);
  EXPECT_FALSE(MeanReciprocalRank(x, RandomMatrix(199, 8, 1)).ok());
}

}  // namespace
}  // namespace relgeo
