// The alignment baselines (src/align/alignment.cpp) recovering known maps.
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

}  // namespace
}  // namespace relgeo
