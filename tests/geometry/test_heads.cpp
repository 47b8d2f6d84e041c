// Metric heads (src/heads): classifier and DIET heads.
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

// ---------------------------------------------------------------- metric heads

// Three Gaussian clusters in d dimensions, labels 0..2.
TEST(Heads, ClassifierHeadLearnsAndSavesALoadableLogitMap) {
  Matrix x;
  std::vector<int64_t> y;
  GaussianClusters(300, 8, 5, &x, &y);
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

}  // namespace
}  // namespace relgeo
