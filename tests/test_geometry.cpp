// Geometry and stitching: geodesic solver, correlations, metric heads, stitching.
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

using testing::ModuleBytes;

std::shared_ptr<MetricMap> LoadMap(const std::string& bytes, OutputDistance d) {
  MetricMapOptions o;
  o.distance = d;
  auto m = MetricMap::FromBytes(bytes, o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : nullptr;
}

Matrix Rows(std::initializer_list<std::vector<float>> rows) {
  std::vector<float> data;
  int64_t cols = 0;
  for (const auto& r : rows) {
    data.insert(data.end(), r.begin(), r.end());
    cols = static_cast<int64_t>(r.size());
  }
  return Matrix(static_cast<int64_t>(rows.size()), cols, data);
}

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

// ---------------------------------------------------------------- geodesics

// Polar warp (r, theta) -> (r cos theta, r sin theta): a flat pullback metric whose
// geodesics are the preimages of straight segments; the straight line in (r, theta)
// is an arc of a circle, not a geodesic.
TEST(Geodesic, PolarWarpFindsTheStraightSegmentOfTheImage) {
  auto map = LoadMap(ModuleBytes("  r = x[:, 0:1]\n  t = x[:, 1:2]\n"
                                 "  return torch.cat([r * torch.cos(t), r * torch.sin(t)], 1)\n",
                                 2),
                     OutputDistance::kEuclidean);
  Matrix z = Rows({{1.0f, -1.0f}}), a = Rows({{1.0f, 1.0f}});
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
  Matrix z = Rows({{static_cast<float>(th), -1.2f}, {0.5f, 0.0f}}),
         a = Rows({{static_cast<float>(th), 1.2f}, {2.0f, 0.0f}});
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
  Matrix z = Rows({{3.0f, -2.0f}}), a = Rows({{-2.0f, 3.0f}});
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

// ---------------------------------------------------------------- metric heads

// Three Gaussian clusters in d dimensions, labels 0..2.
void Clusters(int64_t n, int64_t d, uint64_t seed, Matrix* x, std::vector<int64_t>* y) {
  Matrix centres = testing::RandomMatrix(3, d, seed, 2.0f);
  Matrix noise = testing::RandomMatrix(n, d, seed + 1, 0.5f);
  *x = Matrix(n, d);
  y->assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    (*y)[i] = i % 3;
    for (int64_t c = 0; c < d; ++c) (*x)(i, c) = centres(i % 3, c) + noise(i, c);
  }
}

TEST(Heads, ClassifierHeadLearnsAndSavesALoadableLogitMap) {
  Matrix x;
  std::vector<int64_t> y;
  Clusters(300, 8, 5, &x, &y);
  HeadTrainOptions o;
  o.hidden = 32;
  o.epochs = 15;
  o.learning_rate = 3e-3;
  auto r = TrainClassifierHead(x, y, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LT(r->final_loss, 0.5 * r->initial_loss);
  EXPECT_GT(r->train_accuracy, 0.95);
  EXPECT_EQ(r->epoch_loss.size(), 15u);
  EXPECT_LT(r->epoch_loss.back(), r->epoch_loss.front());
  for (OutputDistance d : {OutputDistance::kEuclidean, OutputDistance::kFisher}) {
    MetricMapOptions mo;
    mo.distance = d;
    auto map = MetricMap::FromBytes(r->map_bytes, mo);
    ASSERT_TRUE(map.ok()) << map.status().ToString();
    EXPECT_EQ((*map)->input_dim(), 8);
    EXPECT_EQ((*map)->output_dim(), 3);
    // The saved module computes what was trained: same accuracy on the same data.
    EXPECT_NEAR(*ClassifierAccuracy(r->map_bytes, x, y), r->train_accuracy, 1e-9);
    // And it works as a relgeo metric map.
    auto enc = RelativeEncoder::Create(*map, x.view().RowSlice(0, 4));
    ASSERT_TRUE(enc.ok());
    EXPECT_TRUE((*enc)->Encode(x.view().RowSlice(10, 5)).ok());
  }
  EXPECT_FALSE(TrainClassifierHead(x, std::vector<int64_t>(299, 0), o).ok());
}

TEST(Heads, DietHeadSeparatesInstancesAndSavesTheTanhLayer) {
  Matrix pts = testing::RandomMatrix(40, 6, 9);
  HeadTrainOptions o;
  o.hidden = 24;
  o.epochs = 40;
  o.batch_size = 16;
  o.learning_rate = 5e-3;
  o.noise = 0.05;
  auto r = TrainDietHead(pts, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_classes, 40);
  EXPECT_LT(r->final_loss, 0.5 * r->initial_loss);
  EXPECT_GT(r->train_accuracy, 0.8);
  MetricMapOptions mo;
  mo.distance = OutputDistance::kSphere;
  auto map = MetricMap::FromBytes(r->map_bytes, mo);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ((*map)->output_dim(), 24);  // the hidden layer, not the P logits
  auto out = (*map)->Forward(pts);
  ASSERT_TRUE(out.ok());
  for (int64_t i = 0; i < out->size(); ++i) EXPECT_LE(std::abs(out->data()[i]), 1.0f);  // tanh range
  // Same seed, same result (deterministic training).
  auto again = TrainDietHead(pts, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->final_loss, r->final_loss);
}

// ---------------------------------------------------------------- stitching

TEST(Stitching, MatchByCosinePicksTheMostSimilarRow) {
  Matrix a = Rows({{1, 0}, {0, 1}, {1, 1}}), b = Rows({{0, 3}, {2, 2.1f}, {5, 0}});
  auto m = MatchByCosine(a, b);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, (std::vector<int64_t>{2, 0, 1}));
  EXPECT_FALSE(MatchByCosine(a, testing::RandomMatrix(3, 3, 1)).ok());
}

// Model B is model A seen through an invertible linear map T of the latent space:
// z_B = T z_A and D_B = D_A o T^-1. relgeo representations are invariant to T,
// so matching is exact and the fitted map recovers T: D_B(T_fit z_A) = D_A(z_A).
TEST(Stitching, AutoencoderStitchingRecoversAKnownLinearMap) {
  const int64_t d = 6, p = 20, n = 240;
  Matrix T = testing::RandomInvertible(d, 21);
  for (int64_t i = 0; i < d; ++i) T(i, (i + 1) % d) += 0.8f;  // far from orthogonal: cosine is not invariant
  std::vector<float> zero(d, 0.0f);
  MetricMapOptions mo;
  auto da = MetricMap::FromBytes(testing::MlpMapBytes(d, 32, p, 4), mo);
  auto db = MetricMap::FromBytes(testing::MlpMapComposedBytes(d, 32, p, 4, T, zero), mo);
  ASSERT_TRUE(da.ok() && db.ok());
  Matrix za = testing::RandomMatrix(n, d, 8);
  Matrix zb = testing::ApplyAffine(za, T, zero);
  Matrix images = *(*da)->Forward(za);
  AeStitchInputs in;
  in.decoder_a = *da;
  in.decoder_b = *db;
  in.latents_a = za;
  in.latents_b = zb;
  in.images = images;
  AeStitchOptions o;
  o.anchors = 5;
  o.seed = 3;
  o.grid_rows = 4;
  auto r = StitchAutoencoders(in, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->anchor_rows.size(), 5u);
  EXPECT_LT(r->mse_own_a, 1e-12);
  EXPECT_LT(r->mse_own_b, 1e-8);
  EXPECT_GT(r->match_accuracy_relgeo, 0.99);
  EXPECT_LT(r->mse_relgeo, 1e-6);
  EXPECT_GT(r->mse_none, 100 * r->mse_relgeo + 1e-4);
  EXPECT_GT(r->mse_anchors_linear, 100 * r->mse_relgeo + 1e-4);
  EXPECT_LT(r->match_accuracy_cosine, r->match_accuracy_relgeo);
  ASSERT_EQ(r->grid_columns.size(), 7u);
  EXPECT_EQ(r->grid_columns[0].rows(), 4);
  std::string png = testing::TempDir() + "/grid.png";
  EXPECT_TRUE(WriteStitchGridPng(png, *r, 4, 5).ok());
  EXPECT_FALSE(WriteStitchGridPng(png, *r, 3, 5).ok());  // 15 != 20 values
  in.images = images.view().RowSlice(0, n - 1);
  EXPECT_FALSE(StitchAutoencoders(in, o).ok());
}

TEST(Stitching, ClassifierHeadsTransferToAnEquivalentSpace) {
  Matrix x, xt;
  std::vector<int64_t> y, yt;
  Clusters(600, 6, 31, &x, &y);
  Clusters(150, 6, 31, &xt, &yt);  // same centres (same seed), fresh noise below
  Matrix noise = testing::RandomMatrix(150, 6, 77, 0.05f);
  Matrix xb = xt;
  for (int64_t i = 0; i < xb.size(); ++i) xb.data()[i] += noise.data()[i];
  StitchHeadOptions o;
  o.heads = 2;
  o.epochs = 5;
  o.learning_rate = 3e-3;
  auto r = StitchClassifier(x, y, xb, yt, xt, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->stitched_accuracy.size(), 2u);
  EXPECT_GT(r->stitched_mean, 0.9);
  EXPECT_GT(r->own_mean, 0.9);
  // A space whose features are shuffled is not equivalent: accuracy drops.
  Matrix shuffled(xb.rows(), xb.cols());
  for (int64_t i = 0; i < xb.rows(); ++i)
    for (int64_t c = 0; c < xb.cols(); ++c) shuffled(i, c) = xb(i, (c + 3) % xb.cols());
  auto bad = StitchClassifier(x, y, shuffled, yt, Matrix(), o);
  ASSERT_TRUE(bad.ok());
  EXPECT_LT(bad->stitched_mean, r->stitched_mean - 0.2);
}

}  // namespace
}  // namespace relgeo
