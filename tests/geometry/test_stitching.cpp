// Stitching (src/stitch): matching, autoencoder and classifier stitching.
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

// ---------------------------------------------------------------- stitching

TEST(Stitching, MatchByCosinePicksTheMostSimilarRow) {
  Matrix a = FromRows({{1, 0}, {0, 1}, {1, 1}}), b = FromRows({{0, 3}, {2, 2.1f}, {5, 0}});
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
  GaussianClusters(600, 6, 31, &x, &y);
  GaussianClusters(150, 6, 31, &xt, &yt);  // same centres (same seed), fresh noise below
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
