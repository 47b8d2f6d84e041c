// Anchor selection (src/align/anchors.cpp): uniform, farthest point, k-means.
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

// ---------------------------------------------------------------- anchors

TEST(Anchors, UniformIsDistinctDeterministicAndNested) {
  Matrix pool = RandomMatrix(100, 3, 1);
  auto a = SelectAnchors(pool, 30, AnchorSelection::kUniform, 7);
  auto b = SelectAnchors(pool, 10, AnchorSelection::kUniform, 7);
  auto c = SelectAnchors(pool, 30, AnchorSelection::kUniform, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(std::set<int64_t>(a->begin(), a->end()).size(), 30u);
  EXPECT_EQ(std::vector<int64_t>(a->begin(), a->begin() + 10), *b);
  EXPECT_NE(*a, *c);
  EXPECT_FALSE(SelectAnchors(pool, 101, AnchorSelection::kUniform, 1).ok());
  EXPECT_FALSE(SelectAnchors(pool, 0, AnchorSelection::kUniform, 1).ok());
}

TEST(Anchors, FarthestPointReachesTheExtremes) {
  Matrix line(101, 1);
  for (int64_t i = 0; i <= 100; ++i) line(i, 0) = static_cast<float>(i);
  auto a = SelectAnchors(line, 3, AnchorSelection::kFarthestPoint, 3);
  ASSERT_TRUE(a.ok());
  std::set<int64_t> s(a->begin() + 1, a->end());
  // After the random start, the next picks are the far end(s) of the segment.
  EXPECT_TRUE(s.count(0) || s.count(100));
  auto five = SelectAnchors(line, 5, AnchorSelection::kFarthestPoint, 3);
  EXPECT_EQ(std::vector<int64_t>(five->begin(), five->begin() + 3), *a);
  EXPECT_EQ(std::set<int64_t>(five->begin(), five->end()).size(), 5u);
}

TEST(Anchors, KMeansSnapsOneAnchorToEachCluster) {
  const float centers[3][2] = {{0, 0}, {50, 0}, {0, 50}};
  Matrix pool(300, 2);
  Matrix noise = RandomMatrix(300, 2, 4);
  for (int64_t i = 0; i < 300; ++i)
    for (int j = 0; j < 2; ++j) pool(i, j) = centers[i % 3][j] + noise(i, j);
  auto a = SelectAnchors(pool, 3, AnchorSelection::kKMeans, 5);
  ASSERT_TRUE(a.ok());
  std::set<int64_t> clusters;
  for (int64_t r : *a) clusters.insert(r % 3);
  EXPECT_EQ(clusters.size(), 3u);
  // Each snapped anchor is a real row close to its cluster centre.
  for (int64_t r : *a) EXPECT_LT(std::hypot(pool(r, 0) - centers[r % 3][0], pool(r, 1) - centers[r % 3][1]), 1.5);
}

}  // namespace
}  // namespace relgeo
