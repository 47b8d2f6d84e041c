// Autoencoder training (src/train/autoencoder.cpp) on a tiny run.
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

// ---------------------------------------------------------------- autoencoder

TEST(Autoencoder, TinyTrainingReducesLossAndSavesLoadableModules) {
  // Real Fashion-MNIST when installed (else structured synthetic images).
  Matrix x;
  FashionMnistOptions fo;
  fo.limit = 256;
  auto real = LoadFashionMnist(DataSplit::kTrain, fo);
  if (real.ok()) {
    x = real->ToMatrix();
  } else {
    x = Matrix(256, 784);
    for (int64_t i = 0; i < 256; ++i)
      for (int64_t p = 0; p < 784; ++p) x(i, p) = ((p / 28 + p % 28 + i) % 7 < 3) ? 0.9f : 0.1f;
  }
  Matrix eval = Matrix::CopyOf(x.view().RowSlice(0, 64));
  for (AeArch arch : {AeArch::kConv, AeArch::kMlp}) {
    AeTrainOptions o;
    o.arch = arch;
    o.latent_dim = 16;
    o.seed = 3;
    o.epochs = 2;
    o.batch_size = 16;  // 16 optimiser steps per epoch
    int calls = 0;
    o.on_progress = [&](const AeProgress& p) {
      ++calls;
      EXPECT_LE(p.batch, p.batches);
    };
    auto r = TrainAutoencoder(x, eval, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(calls, 0);
    ASSERT_EQ(r->epoch_loss.size(), 2u);
    EXPECT_LT(r->epoch_loss[1], r->first_batches_loss * 0.8) << AeArchName(arch);
    EXPECT_GT(r->eval_mse, 0);
    EXPECT_LT(r->eval_mse, r->first_batches_loss) << AeArchName(arch);

    const std::string dir = TempDir() + "/ae_" + AeArchName(arch);
    ASSERT_TRUE(SaveAutoencoder(*r, dir).ok());
    auto map = MetricMap::Load(dir + "/decoder.pt");
    ASSERT_TRUE(map.ok()) << map.status().ToString();
    EXPECT_EQ((*map)->input_dim(), 16);
    EXPECT_EQ((*map)->output_dim(), 784);
    auto z = EncodeImages(dir + "/encoder.pt", eval, 20);
    ASSERT_TRUE(z.ok()) << z.status().ToString();
    EXPECT_EQ(z->rows(), 64);
    EXPECT_EQ(z->cols(), 16);
    auto mse = ReconstructionMse(dir + "/encoder.pt", dir + "/decoder.pt", eval);
    ASSERT_TRUE(mse.ok());
    EXPECT_NEAR(*mse, r->eval_mse, 1e-5);
    // The decoder reproduces the trained reconstruction through MetricMap.
    auto y = (*map)->Forward(*z);
    ASSERT_TRUE(y.ok());
    double err = 0;
    for (int64_t i = 0; i < y->size(); ++i) err += std::pow(double(y->data()[i]) - eval.data()[i], 2);
    EXPECT_NEAR(err / static_cast<double>(y->size()), r->eval_mse, 1e-5);
  }
  // Seeded: the same seed gives the same first losses.
  AeTrainOptions o;
  o.arch = AeArch::kMlp;
  o.latent_dim = 8;
  o.epochs = 1;
  o.seed = 5;
  auto a = TrainAutoencoder(x, Matrix(), o), b = TrainAutoencoder(x, Matrix(), o);
  o.seed = 6;
  auto c = TrainAutoencoder(x, Matrix(), o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_NEAR(a->first_batches_loss, b->first_batches_loss, 1e-6);
  EXPECT_NE(a->first_batches_loss, c->first_batches_loss);
  EXPECT_FALSE(TrainAutoencoder(RandomMatrix(10, 100, 1), Matrix(), o).ok());  // not 784 columns
  EXPECT_EQ(EncodeImages(TempDir() + "/missing.pt", eval).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace relgeo
