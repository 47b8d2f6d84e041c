// Rank and correlation statistics (src/geometry/stats.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "fixtures.h"
#include "relgeo/geodesic.h"
#include "relgeo/heads.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/stitching.h"
#include "relgeo/stats.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// ---------------------------------------------------------------- correlations

TEST(Stats, AverageRanksWithTies) {
  EXPECT_EQ(AverageRanks({10, 20, 20, 30}), (std::vector<double>{1, 2.5, 2.5, 4}));
  EXPECT_EQ(AverageRanks({3, 1, 3, 3}), (std::vector<double>{3, 1, 3, 3}));
  EXPECT_EQ(AverageRanks({}), std::vector<double>{});
}

TEST(Stats, PearsonKnownValues) {
  EXPECT_NEAR(*PearsonCorrelation({1, 2, 3}, {2, 4, 6}), 1.0, 1e-12);
  EXPECT_NEAR(*PearsonCorrelation({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  // x = 1..5, y = 2,4,5,4,5: sxy = 6, sxx = 10, syy = 6 -> r = 6 / sqrt(60) (hand-computed).
  EXPECT_NEAR(*PearsonCorrelation({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}), 6.0 / std::sqrt(60.0), 1e-12);
  EXPECT_FALSE(PearsonCorrelation({1, 1, 1}, {1, 2, 3}).ok());  // constant sample
  EXPECT_FALSE(PearsonCorrelation({1, 2}, {1, 2, 3}).ok());
  EXPECT_FALSE(PearsonCorrelation({1}, {1}).ok());
  EXPECT_FALSE(PearsonCorrelation({1, NAN}, {1, 2}).ok());
}

TEST(Stats, SpearmanKnownValues) {
  // Monotone but nonlinear: rho = 1 while r < 1.
  std::vector<double> x{1, 2, 3, 4, 5}, y{1, 8, 27, 64, 125};
  EXPECT_NEAR(*SpearmanCorrelation(x, y), 1.0, 1e-12);
  EXPECT_LT(*PearsonCorrelation(x, y), 0.99);
  // Ties: x ranks {1, 2.5, 2.5, 4}, y ranks {1, 2, 3, 4}: r of the ranks = 0.9486833 (= 3 / sqrt(10)).
  EXPECT_NEAR(*SpearmanCorrelation({1, 2, 2, 3}, {1, 2, 3, 4}), 3.0 / std::sqrt(10.0), 1e-12);
  // Classic example without ties: d = (0, -1, 1, -2, 2) -> rho = 1 - 6*10/(5*24) = 0.5.
  EXPECT_NEAR(*SpearmanCorrelation({1, 2, 3, 4, 5}, {1, 3, 2, 5, 4}) , 1 - 6.0 * 4 / 120.0, 1e-12);
}

}  // namespace
}  // namespace relgeo
