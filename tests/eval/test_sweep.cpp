// The MRR anchor sweep (src/eval/sweep.cpp), its CSV and its plot.
#include <gtest/gtest.h>

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

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

// ---------------------------------------------------------------- sweep, CSV, plot
TEST(Sweep, RelgeoIsInvariantWhereCosineIsNot) {
  // Space B = T(space A) with T a non-orthogonal invertible affine map, and B's metric
  // map is A's precomposed with T^-1: relgeo representations agree exactly, cosine ones do not.
  const int64_t d = 4, n = 300;
  Matrix za = RandomMatrix(n, d, 31), pool_a = RandomMatrix(120, d, 32);
  Matrix T = RandomInvertible(d, 33);
  for (int64_t i = 0; i < d; ++i) T(i, 0) += 0.8f;  // strongly non-orthogonal
  std::vector<float> t = {1.5f, -2.0f, 0.5f, 3.0f};
  MrrSweepInputs in;
  in.map_a = LoadMap(MlpMapBytes(d, 16, 6, 34));
  in.map_b = LoadMap(MlpMapComposedBytes(d, 16, 6, 34, T, t));
  Matrix zb = ApplyAffine(za, T, t), pool_b = ApplyAffine(pool_a, T, t);
  in.latents_a = za;
  in.latents_b = zb;
  in.pool_a = pool_a;
  in.pool_b = pool_b;
  MrrSweepOptions o;
  o.anchor_counts = {3, 10, 20};
  o.draws = 2;
  o.encoder.steps = 4;
  o.relgeo_max_anchors = 10;
  int progress_calls = 0;
  o.on_progress = [&](const SweepProgress&) { ++progress_calls; };
  auto rows = RunMrrSweep(in, o);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  // 5 methods x 3 counts x 2 draws, minus relgeo at 20 anchors.
  EXPECT_EQ(rows->size(), 5u * 3 * 2 - 2);
  EXPECT_GT(progress_calls, 0);
  for (const auto& r : *rows) {
    EXPECT_FALSE(r.method == "relgeo" && r.anchors > 10);
    if (r.method == "relgeo" && r.anchors == 10) EXPECT_GT(r.mrr.cosine_sym, 0.99);
  }
  auto summary = SummarizeSweep(*rows);
  double relgeo10 = 0, cosine10 = 0;
  for (const auto& s : summary) {
    if (s.anchors == 10 && s.method == "relgeo") relgeo10 = s.mean;
    if (s.anchors == 10 && s.method == "cosine") cosine10 = s.mean;
    EXPECT_EQ(s.draws, 2);
  }
  EXPECT_GT(relgeo10, cosine10 + 0.05);

  const std::string csv = TempDir() + "/sweep.csv", png = TempDir() + "/sweep.png";
  ASSERT_TRUE(WriteSweepCsv(csv, *rows).ok());
  std::ifstream f(csv);
  std::string header;
  std::getline(f, header);
  EXPECT_EQ(header.rfind("method,anchors,draw,mrr,", 0), 0u) << header;
  int lines = 0;
  for (std::string l; std::getline(f, l);) ++lines;
  EXPECT_EQ(lines, static_cast<int>(rows->size()));
  auto back = ReadSweepCsv(csv);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), rows->size());
  for (size_t i = 0; i < rows->size(); ++i) {
    EXPECT_EQ((*back)[i].method, (*rows)[i].method);
    EXPECT_EQ((*back)[i].anchors, (*rows)[i].anchors);
    EXPECT_NEAR((*back)[i].mrr.cosine_sym, (*rows)[i].mrr.cosine_sym, 1e-6);
    EXPECT_NEAR((*back)[i].mrr.cdist, (*rows)[i].mrr.cdist, 1e-6);
  }
  EXPECT_EQ(ReadSweepCsv(WriteTempFile("bad.csv", "method,anchors\nx,3\n")).status().code(), StatusCode::kCorruption);

  ASSERT_TRUE(WritePlotPng(png, SweepPlot(*rows, "test sweep")).ok());
  int w = 0, h = 0, ch = 0;
  unsigned char* img = stbi_load(png.c_str(), &w, &h, &ch, 3);
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(w, 960);
  EXPECT_EQ(h, 640);
  int64_t red = 0, dark = 0;  // the first series' colour (214, 39, 40) and text/axes
  for (int64_t i = 0; i < int64_t{w} * h; ++i) {
    const unsigned char* p = img + i * 3;
    red += p[0] == 214 && p[1] == 39 && p[2] == 40;
    dark += p[0] < 80 && p[1] < 80 && p[2] < 80;
  }
  stbi_image_free(img);
  EXPECT_GT(red, 200);
  EXPECT_GT(dark, 500);
}

TEST(Sweep, RejectsMismatchedInputs) {
  MrrSweepInputs in;
  Matrix a = RandomMatrix(50, 3, 1), b = RandomMatrix(49, 3, 2);
  in.latents_a = a;
  in.latents_b = b;
  MrrSweepOptions o;
  o.methods = {SweepMethod::kCosine};
  o.anchor_counts = {5};
  EXPECT_FALSE(RunMrrSweep(in, o).ok());
  in.latents_b = a;
  o.anchor_counts = {51};
  EXPECT_FALSE(RunMrrSweep(in, o).ok());
  o.anchor_counts = {5};
  o.methods = {SweepMethod::kRelgeo};  // no maps
  EXPECT_FALSE(RunMrrSweep(in, o).ok());
  EXPECT_FALSE(ParseSweepMethods("relgeo,bogus").ok());
  EXPECT_FALSE(ParseSweepMethods("cosine,cosine").ok());
  EXPECT_FALSE(WritePlotPng(TempDir() + "/x.png", LinePlot{}).ok());
}

}  // namespace
}  // namespace relgeo
