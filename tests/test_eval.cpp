// Evaluation: MRR on hand-computed matrices (ties, symmetric vs asymmetric, @k),
// the alignment baselines recovering known maps, anchor selection, the MRR sweep
// and its CSV/PNG output, the IDX/Fashion-MNIST loader (round trip, corrupt and
// truncated files) and a tiny autoencoder training run.
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
#include "relgeo/plot.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

Matrix FromRows(const std::vector<std::vector<float>>& rows) {
  Matrix m(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size()));
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) m(static_cast<int64_t>(i), static_cast<int64_t>(j)) = rows[i][j];
  return m;
}

Matrix MatMul(const Matrix& a, const Matrix& b) {
  Matrix c(a.rows(), b.cols());
  for (int64_t i = 0; i < a.rows(); ++i)
    for (int64_t j = 0; j < b.cols(); ++j) {
      double s = 0;
      for (int64_t k = 0; k < a.cols(); ++k) s += static_cast<double>(a(i, k)) * b(k, j);
      c(i, j) = static_cast<float>(s);
    }
  return c;
}

double MaxAbsDiff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  double m = 0;
  for (int64_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(double(a.data()[i]) - b.data()[i]));
  return m;
}

// Gram-Schmidt on the columns of a Gaussian matrix (in double).
Matrix RandomOrthogonal(int64_t d, uint64_t seed) {
  Matrix g = RandomMatrix(d, d, seed);
  std::vector<std::vector<double>> q(d, std::vector<double>(d));
  for (int64_t c = 0; c < d; ++c) {
    std::vector<double> v(d);
    for (int64_t r = 0; r < d; ++r) v[r] = g(r, c);
    for (int64_t p = 0; p < c; ++p) {
      double dot = 0;
      for (int64_t r = 0; r < d; ++r) dot += v[r] * q[p][r];
      for (int64_t r = 0; r < d; ++r) v[r] -= dot * q[p][r];
    }
    double n = 0;
    for (double x : v) n += x * x;
    for (int64_t r = 0; r < d; ++r) q[c][r] = v[r] / std::sqrt(n);
  }
  Matrix out(d, d);
  for (int64_t r = 0; r < d; ++r)
    for (int64_t c = 0; c < d; ++c) out(r, c) = static_cast<float>(q[c][r]);
  return out;
}

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

// ---------------------------------------------------------------- alignment

TEST(Alignment, ProcrustesRecoversRandomOrthogonalMapExactly) {
  const int64_t d = 8, K = 40;
  Matrix Q = RandomOrthogonal(d, 5);
  Matrix a1 = RandomMatrix(K, d, 6), z1 = RandomMatrix(100, d, 7);
  Matrix a2 = MatMul(a1, Q), z2 = MatMul(z1, Q);
  AlignOptions o;
  o.standardize = Standardize::kNone;
  auto al = Alignment::Fit(AlignMethod::kOrthogonal, a1, a2, o);
  ASSERT_TRUE(al.ok()) << al.status().ToString();
  EXPECT_LT(MaxAbsDiff(al->matrix(), Q), 1e-5);
  EXPECT_LT(MaxAbsDiff(*al->SourceToTarget(z1), z2), 1e-4);
  // With translation and isotropic scale, global standardisation still recovers it.
  Matrix b2 = a2, w2 = z2;
  for (int64_t i = 0; i < b2.size(); ++i) b2.data()[i] = 3.0f * b2.data()[i] + 0.5f * static_cast<float>(i % d);
  for (int64_t i = 0; i < w2.size(); ++i) w2.data()[i] = 3.0f * w2.data()[i] + 0.5f * static_cast<float>(i % d);
  o.standardize = Standardize::kGlobal;
  auto g = Alignment::Fit(AlignMethod::kOrthogonal, a1, b2, o);
  ASSERT_TRUE(g.ok());
  EXPECT_LT(MaxAbsDiff(*g->SourceToShared(z1), *g->TargetToShared(w2)), 1e-4);
  EXPECT_LT(MaxAbsDiff(*g->SourceToTarget(z1), w2), 1e-3);
  auto mrr = MeanReciprocalRank(*g->SourceToShared(z1), *g->TargetToShared(w2));
  EXPECT_DOUBLE_EQ(*mrr, 1.0);
}

TEST(Alignment, ProcrustesPerDimensionStandardisationAndZeroPadding) {
  // A signed permutation commutes with per-dimension scaling: recovered exactly.
  const int64_t d = 6, K = 30;
  Matrix P(d, d);
  const int perm[] = {3, 0, 5, 1, 4, 2};
  for (int64_t i = 0; i < d; ++i) P(i, perm[i]) = (i % 2) ? -1.0f : 1.0f;
  Matrix a1 = RandomMatrix(K, d, 8), z1 = RandomMatrix(50, d, 9);
  for (int64_t i = 0; i < K; ++i) a1(i, 2) *= 10.0f;  // very different per-dimension scales
  for (int64_t i = 0; i < 50; ++i) z1(i, 2) *= 10.0f;
  auto al = Alignment::Fit(AlignMethod::kOrthogonal, a1, MatMul(a1, P));
  ASSERT_TRUE(al.ok());
  EXPECT_LT(MaxAbsDiff(*al->SourceToTarget(z1), MatMul(z1, P)), 1e-3);
  // Different dimensions: zero-padding to max(d1, d2); the map carries z1 into d2 columns.
  Matrix a2wide(K, d + 2), z2wide(50, d + 2);
  for (int64_t i = 0; i < K; ++i) std::copy(a1.row(i), a1.row(i) + d, a2wide.row(i));
  for (int64_t i = 0; i < K; ++i) a2wide(i, d) = 0.001f * static_cast<float>(i);
  auto pad = Alignment::Fit(AlignMethod::kOrthogonal, a1, a2wide);
  ASSERT_TRUE(pad.ok());
  EXPECT_EQ(pad->matrix().rows(), d + 2);
  auto out = pad->SourceToTarget(z1);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->cols(), d + 2);
}

TEST(Alignment, LinearRecoversRandomInvertibleMap) {
  const int64_t d = 10, K = 40;
  Matrix M = RandomInvertible(d, 21);
  Matrix a1 = RandomMatrix(K, d, 22), z1 = RandomMatrix(80, d, 23);
  auto al = Alignment::Fit(AlignMethod::kLinear, a1, MatMul(a1, M));
  ASSERT_TRUE(al.ok()) << al.status().ToString();
  EXPECT_LT(MaxAbsDiff(al->matrix(), M), 1e-4);
  EXPECT_LT(MaxAbsDiff(*al->SourceToTarget(z1), MatMul(z1, M)), 1e-3);
  // d1 != d2 (a 10 -> 4 map) and fewer anchors than dimensions (ridge): still well-posed,
  // and the anchors themselves are mapped almost exactly.
  Matrix M2 = RandomMatrix(d, 4, 24);
  auto wide = Alignment::Fit(AlignMethod::kLinear, a1, MatMul(a1, M2));
  ASSERT_TRUE(wide.ok());
  EXPECT_LT(MaxAbsDiff(wide->matrix(), M2), 1e-4);
  Matrix few = RandomMatrix(4, d, 25);
  auto ridge = Alignment::Fit(AlignMethod::kLinear, few, MatMul(few, M));
  ASSERT_TRUE(ridge.ok());
  EXPECT_LT(MaxAbsDiff(*ridge->SourceToShared(few), MatMul(few, M)), 0.05);
}

TEST(Alignment, RejectsBadInput) {
  EXPECT_FALSE(Alignment::Fit(AlignMethod::kAbsolute, RandomMatrix(5, 3, 1), RandomMatrix(5, 4, 2)).ok());
  EXPECT_FALSE(Alignment::Fit(AlignMethod::kLinear, RandomMatrix(5, 3, 1), RandomMatrix(6, 3, 2)).ok());
  Matrix nan = RandomMatrix(5, 3, 1);
  nan(1, 1) = std::nanf("");
  EXPECT_FALSE(Alignment::Fit(AlignMethod::kOrthogonal, nan, RandomMatrix(5, 3, 2)).ok());
  auto al = Alignment::Fit(AlignMethod::kLinear, RandomMatrix(5, 3, 1), RandomMatrix(5, 3, 2));
  ASSERT_TRUE(al.ok());
  EXPECT_FALSE(al->SourceToShared(RandomMatrix(2, 4, 3)).ok());
}

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

// ---------------------------------------------------------------- sweep, CSV, plot

std::shared_ptr<MetricMap> Load(const std::string& bytes) {
  auto m = MetricMap::FromBytes(bytes);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : nullptr;
}

TEST(Sweep, RelgeoIsInvariantWhereCosineIsNot) {
  // Space B = T(space A) with T a non-orthogonal invertible affine map, and B's metric
  // map is A's precomposed with T^-1: relgeo representations agree exactly, cosine ones do not.
  const int64_t d = 4, n = 300;
  Matrix za = RandomMatrix(n, d, 31), pool_a = RandomMatrix(120, d, 32);
  Matrix T = RandomInvertible(d, 33);
  for (int64_t i = 0; i < d; ++i) T(i, 0) += 0.8f;  // strongly non-orthogonal
  std::vector<float> t = {1.5f, -2.0f, 0.5f, 3.0f};
  MrrSweepInputs in;
  in.map_a = Load(MlpMapBytes(d, 16, 6, 34));
  in.map_b = Load(MlpMapComposedBytes(d, 16, 6, 34, T, t));
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

// ---------------------------------------------------------------- IDX / Fashion-MNIST

std::string Gzip(const std::string& raw) {
  uLongf n = compressBound(raw.size()) + 64;
  std::string out(n, '\0');
  // gzip wrapper via deflateInit2 (windowBits 31).
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string IdxHeader(uint8_t ndims, const std::vector<uint32_t>& dims, uint8_t type = 0x08) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(ndims)};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((d >> s) & 0xff));
  return h;
}

IdxArray Images(int64_t n, uint64_t seed) {
  IdxArray a;
  a.dims = {n, 28, 28};
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n * 784; ++i) a.data.push_back(static_cast<uint8_t>(rng() & 0xff));
  return a;
}
IdxArray Labels(int64_t n) {
  IdxArray a;
  a.dims = {n};
  for (int64_t i = 0; i < n; ++i) a.data.push_back(static_cast<uint8_t>(i % 10));
  return a;
}

TEST(Idx, RoundTripAndFashionMnistSplit) {
  const std::string dir = TempDir() + "/fmnist";
  std::filesystem::create_directories(dir);
  IdxArray tr = Images(50, 1), te = Images(20, 2);
  ASSERT_TRUE(WriteIdxGz(dir + "/train-images-idx3-ubyte.gz", tr).ok());
  ASSERT_TRUE(WriteIdxGz(dir + "/train-labels-idx1-ubyte.gz", Labels(50)).ok());
  ASSERT_TRUE(WriteIdxGz(dir + "/t10k-images-idx3-ubyte.gz", te).ok());
  ASSERT_TRUE(WriteIdxGz(dir + "/t10k-labels-idx1-ubyte.gz", Labels(20)).ok());
  auto back = ReadIdx(dir + "/train-images-idx3-ubyte.gz", 3);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->dims, tr.dims);
  EXPECT_EQ(back->data, tr.data);

  FashionMnistOptions o;
  o.dir = dir;
  o.split_seed = 4;
  auto train = LoadFashionMnist(DataSplit::kTrain, o), val = LoadFashionMnist(DataSplit::kVal, o);
  auto test = LoadFashionMnist(DataSplit::kTest, o), full = LoadFashionMnist(DataSplit::kTrainFull, o);
  ASSERT_TRUE(train.ok() && val.ok() && test.ok() && full.ok()) << train.status().ToString();
  EXPECT_EQ(train->size(), 45);
  EXPECT_EQ(val->size(), 5);
  EXPECT_EQ(test->size(), 20);
  EXPECT_EQ(full->size(), 50);
  std::set<int64_t> all(train->indices.begin(), train->indices.end());
  all.insert(val->indices.begin(), val->indices.end());
  EXPECT_EQ(all.size(), 50u);  // disjoint and complete
  // Rows carry their original pixels and labels.
  const int64_t v0 = val->indices[0];
  EXPECT_EQ(val->labels[0], v0 % 10);
  EXPECT_TRUE(std::equal(val->pixels.begin(), val->pixels.begin() + 784, tr.data.begin() + v0 * 784));
  Matrix m = val->ToMatrix();
  EXPECT_FLOAT_EQ(m(0, 5), tr.data[v0 * 784 + 5] / 255.0f);
  // Seeded: same seed, same split; another seed, another split.
  auto val2 = LoadFashionMnist(DataSplit::kVal, o);
  EXPECT_EQ(val2->indices, val->indices);
  o.split_seed = 5;
  EXPECT_NE(LoadFashionMnist(DataSplit::kVal, o)->indices, val->indices);
  o.limit = 7;
  EXPECT_EQ(LoadFashionMnist(DataSplit::kTrain, o)->size(), 7);
}

TEST(Idx, CorruptAndTruncatedFilesAreRejected) {
  const std::string d = TempDir();
  auto expect_corrupt = [&](const std::string& name, const std::string& bytes, int rank = 0) {
    const std::string p = WriteTempFile(name, bytes);
    auto r = ReadIdx(p, rank);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << name << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(p), std::string::npos) << "message names the file";
  };
  std::string payload(3 * 4 * 4, '\x07');
  expect_corrupt("bad_magic.gz", Gzip(std::string("\x01\x02\x08\x03", 4) + payload));
  expect_corrupt("bad_type.gz", Gzip(IdxHeader(3, {3, 4, 4}, 0x0D) + payload));
  expect_corrupt("truncated_data.gz", Gzip(IdxHeader(3, {3, 4, 4}) + payload.substr(0, 40)));
  expect_corrupt("truncated_header.gz", Gzip(IdxHeader(3, {3, 4, 4}).substr(0, 9)));
  expect_corrupt("trailing.gz", Gzip(IdxHeader(3, {3, 4, 4}) + payload + "xx"));
  expect_corrupt("zero_dim.gz", Gzip(IdxHeader(3, {3, 0, 4})));
  expect_corrupt("wrong_rank.gz", Gzip(IdxHeader(3, {3, 4, 4}) + payload), 1);
  // A gzip stream cut in half (the way a partial download looks).
  IdxArray big = Images(40, 9);
  const std::string full = TempDir() + "/full.gz";
  ASSERT_TRUE(WriteIdxGz(full, big).ok());
  std::ifstream in(full, std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  expect_corrupt("cut.gz", gz.substr(0, gz.size() / 2));
  // Damaged bytes in the middle of the compressed stream.
  std::string flipped = gz;
  for (size_t i = gz.size() / 3; i < gz.size() / 3 + 64; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  expect_corrupt("flipped.gz", flipped);
  // Uncompressed IDX is read too (gzread is transparent), and validated the same way.
  EXPECT_TRUE(ReadIdx(WriteTempFile("plain.idx", IdxHeader(3, {3, 4, 4}) + payload)).ok());
  auto missing = ReadIdx(d + "/nope.gz");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // Images and labels that disagree, labels out of range.
  ASSERT_TRUE(WriteIdxGz(d + "/im.gz", Images(6, 1)).ok());
  ASSERT_TRUE(WriteIdxGz(d + "/lb5.gz", Labels(5)).ok());
  EXPECT_EQ(LoadIdxDataset(d + "/im.gz", d + "/lb5.gz").status().code(), StatusCode::kCorruption);
  IdxArray bad = Labels(6);
  bad.data[3] = 12;
  ASSERT_TRUE(WriteIdxGz(d + "/lb_bad.gz", bad).ok());
  EXPECT_EQ(LoadIdxDataset(d + "/im.gz", d + "/lb_bad.gz", 10).status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(LoadIdxDataset(d + "/im.gz", d + "/lb_bad.gz", 0).ok());
}

TEST(FashionMnist, RealFilesWhenInstalled) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto test = LoadFashionMnist(DataSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(test->height, 28);
  std::set<int64_t> classes(test->labels.begin(), test->labels.end());
  EXPECT_EQ(classes.size(), 10u);
}

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
