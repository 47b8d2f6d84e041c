// The geodesic solver (src/geometry/geodesic.cpp) and its heatmap figure.
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

// ---------------------------------------------------------------- geodesics

// Polar warp (r, theta) -> (r cos theta, r sin theta): a flat pullback metric whose
// geodesics are the preimages of straight segments; the straight line in (r, theta)
// is an arc of a circle, not a geodesic.
TEST(Geodesic, PolarWarpFindsTheStraightSegmentOfTheImage) {
  auto map = LoadMap(ModuleBytes("  r = x[:, 0:1]\n  t = x[:, 1:2]\n"
                                 "  return torch.cat([r * torch.cos(t), r * torch.sin(t)], 1)\n",
                                 2),
                     OutputDistance::kEuclidean);
  Matrix z = FromRows({{1.0f, -1.0f}}), a = FromRows({{1.0f, 1.0f}});
  GeodesicOptions o;
  o.steps = 8;
  o.iterations = 400;
  o.refine = 4;
  auto r = SolveGeodesics(*map, z, a, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const int N = o.steps;
  // Refined (32-step) evaluation: the straight line's energy approaches the arc's
  // (length 2: energy 2); the optimised polygon stays near the segment's chord^2 / 2.
  ASSERT_EQ(r->refined_energy.size(), 1u);
  EXPECT_NEAR(r->refined_line_energy[0], 0.5 * std::pow(2 * 4 * N * std::sin(1.0 / (4 * N)), 2), 1e-3);
  EXPECT_GE(r->refined_energy[0], r->energy[0] - 1e-4);
  EXPECT_NEAR(r->refined_energy[0], 2 * std::sin(1.0) * std::sin(1.0), 2e-2);  // line: ~2.0
  const double chord = 2 * std::sin(1.0);  // |f(z) - f(a)|
  // Straight line: N chords of the unit circle, each 2 sin(1/N).
  EXPECT_NEAR(r->line_length[0], 2 * N * std::sin(1.0 / N), 1e-4);
  EXPECT_NEAR(r->line_energy[0], 0.5 * N * N * std::pow(2 * std::sin(1.0 / N), 2), 1e-4);
  // Geodesic: equally spaced points on the segment: length = chord, energy = chord^2 / 2.
  EXPECT_NEAR(r->length[0], chord, 2e-3);
  EXPECT_NEAR(r->energy[0], 0.5 * chord * chord, 2e-3);
  EXPECT_LT(r->energy[0], r->line_energy[0] - 0.1);
  EXPECT_EQ(r->improved, 1);
}

// Spherical coordinates onto the unit sphere with the `sphere` distance: the
// geodesic is the great circle, its length the angle between the end points for
// every N; the straight line in (theta, phi) follows a latitude circle.
TEST(Geodesic, SphereDistanceFindsTheGreatCircle) {
  auto map = LoadMap(ModuleBytes("  t = x[:, 0:1]\n  p = x[:, 1:2]\n"
                                 "  return torch.cat([torch.sin(t) * torch.cos(p), torch.sin(t) * torch.sin(p), "
                                 "torch.cos(t)], 1)\n",
                                 2),
                     OutputDistance::kSphere);
  const double th = M_PI / 3;
  Matrix z = FromRows({{static_cast<float>(th), -1.2f}, {0.5f, 0.0f}}),
         a = FromRows({{static_cast<float>(th), 1.2f}, {2.0f, 0.0f}});
  GeodesicOptions o;
  o.steps = 8;
  o.iterations = 400;
  auto r = SolveGeodesics(*map, z, a, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Pair 0: angle between the end points on the latitude circle theta = pi/3.
  const double cosang = std::sin(th) * std::sin(th) * std::cos(2.4) + std::cos(th) * std::cos(th);
  const double ang = std::acos(cosang);
  EXPECT_GT(r->line_length[0], ang + 0.05);  // the latitude arc is longer
  EXPECT_NEAR(r->length[0], ang, 3e-3);
  EXPECT_NEAR(r->energy[0], 0.5 * ang * ang, 3e-3);
  // Pair 1 runs along a meridian: already a geodesic, nothing to gain.
  EXPECT_NEAR(r->line_length[1], 1.5, 1e-4);
  EXPECT_NEAR(r->length[1], 1.5, 1e-4);
  EXPECT_LE(r->energy[1], r->line_energy[1]);
}

// Logits (0, x1, x2) with the Fisher-Rao distance: the geodesic distance between
// two categorical distributions is 2 arccos(sum sqrt(p q)) (a great circle of the
// sphere of sqrt(p)), while the straight line in logit space is longer.
TEST(Geodesic, FisherDistanceReachesTheClosedForm) {
  auto map = LoadMap(ModuleBytes("  return torch.cat([torch.zeros_like(x[:, 0:1]), x], 1)\n", 2),
                     OutputDistance::kFisher);
  Matrix z = FromRows({{3.0f, -2.0f}}), a = FromRows({{-2.0f, 3.0f}});
  auto softmax = [](std::vector<double> l) {
    double s = 0;
    for (double& v : l) s += (v = std::exp(v));
    for (double& v : l) v /= s;
    return l;
  };
  auto p = softmax({0, 3, -2}), q = softmax({0, -2, 3});
  double bc = 0;
  for (int i = 0; i < 3; ++i) bc += std::sqrt(p[i] * q[i]);
  const double dist = 2 * std::acos(bc);
  GeodesicOptions o;
  o.steps = 16;
  o.iterations = 500;
  auto r = SolveGeodesics(*map, z, a, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->line_length[0], dist + 0.05);
  EXPECT_NEAR(r->length[0], dist, 1e-2);
  EXPECT_LE(r->energy[0], r->line_energy[0]);
}

TEST(Geodesic, AffineMapStraightLineIsAlreadyOptimal) {
  Matrix W = testing::RandomMatrix(5, 3, 7);
  auto map = LoadMap(testing::AffineMapBytes(W, {0, 0, 0, 0, 0}), OutputDistance::kEuclidean);
  Matrix z = testing::RandomMatrix(6, 3, 1), a = testing::RandomMatrix(6, 3, 2);
  GeodesicOptions o;
  o.iterations = 60;
  auto r = SolveGeodesics(*map, z, a, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (int i = 0; i < 6; ++i) {
    double e = 0;  // |W (a - z)|^2 / 2
    for (int k = 0; k < 5; ++k) {
      double s = 0;
      for (int c = 0; c < 3; ++c) s += W(k, c) * (a(i, c) - z(i, c));
      e += s * s;
    }
    EXPECT_NEAR(r->line_energy[i], 0.5 * e, 1e-4 * (1 + e));
    EXPECT_NEAR(r->energy[i], r->line_energy[i], 1e-3 * (1 + e));
  }
}

// Whatever the optimiser does (here: a learning rate far too large, which
// diverges), the result is never worse than the straight line, for every distance.
TEST(Geodesic, NeverIncreasesEnergyOrLength) {
  Matrix z = testing::RandomMatrix(20, 4, 11), a = testing::RandomMatrix(20, 4, 12);
  for (OutputDistance d : {OutputDistance::kEuclidean, OutputDistance::kSphere, OutputDistance::kFisher}) {
    auto map = LoadMap(testing::MlpMapBytes(4, 16, 6, 3), d);
    for (double lr : {0.02, 50.0}) {
      GeodesicOptions o;
      o.steps = 6;
      o.iterations = 40;
      o.learning_rate = lr;
      o.memory_budget_bytes = 4096;  // forces several chunks
      auto r = SolveGeodesics(*map, z, a, o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      auto line = StraightLines(*map, z, a, o.steps);
      ASSERT_TRUE(line.ok());
      for (int i = 0; i < 20; ++i) {
        EXPECT_LE(r->energy[i], r->line_energy[i]) << OutputDistanceName(d) << " lr " << lr;
        EXPECT_LE(r->length[i], r->line_length[i] * (1 + 1e-5)) << OutputDistanceName(d) << " lr " << lr;
        EXPECT_NEAR(r->line_energy[i], line->line_energy[i], 1e-4 * (1 + line->line_energy[i]));
        EXPECT_NEAR(r->line_length[i], line->line_length[i], 1e-4 * (1 + line->line_length[i]));
      }
      if (lr < 1) EXPECT_GT(r->improved, 10) << OutputDistanceName(d);
    }
  }
}

TEST(Geodesic, RejectsBadInput) {
  auto map = LoadMap(testing::MlpMapBytes(4, 8, 3, 1), OutputDistance::kEuclidean);
  Matrix z = testing::RandomMatrix(2, 4, 1), a3 = testing::RandomMatrix(3, 4, 2), bad = testing::RandomMatrix(2, 5, 3);
  EXPECT_FALSE(SolveGeodesics(*map, z, a3).ok());
  EXPECT_FALSE(SolveGeodesics(*map, z, bad).ok());
  GeodesicOptions o;
  o.steps = 0;
  EXPECT_FALSE(SolveGeodesics(*map, z, z, o).ok());
  Matrix nan = z;
  nan(1, 2) = NAN;
  EXPECT_FALSE(SolveGeodesics(*map, nan, z).ok());
  EXPECT_EQ(AllPairs(4).size(), 6u);
  EXPECT_EQ(AllPairs(4)[3], (std::pair<int64_t, int64_t>{1, 2}));
}

TEST(Geodesic, HeatmapPairPngIsWritten) {
  Matrix a = testing::RandomMatrix(5, 5, 1), b = testing::RandomMatrix(5, 5, 2);
  const std::string path = testing::TempDir() + "/heat.png";
  ASSERT_TRUE(WriteHeatmapPairPng(path, a, "line", b, "geodesic").ok());
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_FALSE(WriteHeatmapPairPng(path, Matrix(), "", b, "").ok());
  EXPECT_FALSE(WriteHeatmapPairPng("/nonexistent-dir/x.png", a, "", b, "").ok());
}

}  // namespace
}  // namespace relgeo
