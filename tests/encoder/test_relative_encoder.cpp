// The relative geodesic encoder (src/encoder): exact values on affine maps,
// invariance, refinement, the sphere and fisher closed forms, chunking, bad input;
// and the cosine baseline.
#include <gtest/gtest.h>

#include <cmath>

#include "fixtures.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

Matrix EncodeWith(const std::shared_ptr<MetricMap>& map, const Matrix& anchors, const Matrix& z, EncoderOptions o) {
  auto enc = RelativeEncoder::Create(map, anchors, o);
  EXPECT_TRUE(enc.ok()) << enc.status().ToString();
  auto r = (*enc)->Encode(z);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

double RelErr(double got, double want) { return std::abs(got - want) / std::max(1e-12, std::abs(want)); }

TEST(RelativeEncoder, AffineMapGivesExactLengthAndEnergy) {
  const int64_t d = 6, m = 9, K = 5, n = 7;
  Matrix W = RandomMatrix(m, d, 1);
  std::vector<float> b = RandomMatrix(1, m, 2).storage();
  auto map = LoadMap(AffineMapBytes(W, b));
  ASSERT_EQ(map->input_dim(), d);
  ASSERT_EQ(map->output_dim(), m);
  Matrix A = RandomMatrix(K, d, 3), Z = RandomMatrix(n, d, 4);
  for (int N : {1, 2, 7, 64}) {
    EncoderOptions o;
    o.steps = N;
    Matrix L = EncodeWith(map, A, Z, o);
    o.mode = PathMode::kEnergy;
    Matrix E = EncodeWith(map, A, Z, o);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < K; ++k) {
        double sq = 0;
        for (int64_t r = 0; r < m; ++r) {
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += W(r, c) * (static_cast<double>(A(k, c)) - Z(i, c));
          sq += s * s;
        }
        EXPECT_LE(RelErr(L(i, k), std::sqrt(sq)), 1e-5) << "N=" << N;
        EXPECT_LE(RelErr(E(i, k), sq / 2), 1e-5) << "N=" << N;
      }
  }
}

TEST(RelativeEncoder, InvariantToInvertibleAffineReparametrisation) {
  const int64_t d = 5, K = 8, n = 6;
  Matrix T = RandomInvertible(d, 11);
  std::vector<float> t = RandomMatrix(1, d, 12).storage();
  auto f = LoadMap(MlpMapBytes(d, 16, 10, 42));
  auto g = LoadMap(MlpMapComposedBytes(d, 16, 10, 42, T, t));  // g = f o T^-1
  ASSERT_EQ(g->input_dim(), d);
  Matrix A = RandomMatrix(K, d, 13), Z = RandomMatrix(n, d, 14);
  Matrix TA = ApplyAffine(A, T, t), TZ = ApplyAffine(Z, T, t);
  EncoderOptions o;
  o.steps = 10;
  Matrix r1 = EncodeWith(f, A, Z, o), r2 = EncodeWith(g, TA, TZ, o);
  double max_rel = 0;
  for (int64_t i = 0; i < r1.size(); ++i) max_rel = std::max(max_rel, RelErr(r2.data()[i], r1.data()[i]));
  EXPECT_LE(max_rel, 1e-4);

  // The cosine baseline is not invariant to a general affine map.
  auto c1 = CosineEncoder::Create(A), c2 = CosineEncoder::Create(TA);
  ASSERT_TRUE(c1.ok() && c2.ok());
  Matrix s1 = *c1->Encode(Z), s2 = *c2->Encode(TZ);
  double max_diff = 0;
  for (int64_t i = 0; i < s1.size(); ++i) max_diff = std::max(max_diff, std::abs(double(s1.data()[i]) - s2.data()[i]));
  EXPECT_GT(max_diff, 1e-2);
}

TEST(CosineEncoder, InvariantToOrthogonalMapsAndIsotropicScaling) {
  const int64_t d = 4;
  Matrix A = RandomMatrix(6, d, 21), Z = RandomMatrix(5, d, 22);
  // A rotation in the (0,1) plane and a reflection of axis 3, times a scale of 3.7.
  Matrix Q(d, d);
  const float c = std::cos(0.7f), s = std::sin(0.7f);
  Q(0, 0) = c; Q(0, 1) = -s; Q(1, 0) = s; Q(1, 1) = c; Q(2, 2) = 1; Q(3, 3) = -1;
  for (float& v : Q.storage()) v *= 3.7f;
  Matrix QA = ApplyAffine(A, Q, {}), QZ = ApplyAffine(Z, Q, {});
  Matrix s1 = *CosineEncoder::Create(A)->Encode(Z), s2 = *CosineEncoder::Create(QA)->Encode(QZ);
  for (int64_t i = 0; i < s1.size(); ++i) EXPECT_NEAR(s1.data()[i], s2.data()[i], 1e-5);
  // Exact value for one entry.
  double dot = 0, na = 0, nz = 0;
  for (int64_t c2 = 0; c2 < d; ++c2) { dot += Z(0, c2) * A(1, c2); na += A(1, c2) * A(1, c2); nz += Z(0, c2) * Z(0, c2); }
  EXPECT_NEAR(s1(0, 1), dot / std::sqrt(na * nz), 1e-5);
}

TEST(RelativeEncoder, RefiningStepsNeverShortensAndConverges) {
  const int64_t d = 3;
  auto map = LoadMap(MlpMapBytes(d, 32, 12, 7));
  Matrix A = RandomMatrix(4, d, 8, 2.0f), Z = RandomMatrix(5, d, 9, 2.0f);
  std::vector<Matrix> by_n;
  for (int N : {1, 2, 4, 8, 16, 32, 64, 128}) {
    EncoderOptions o;
    o.steps = N;
    by_n.push_back(EncodeWith(map, A, Z, o));
  }
  for (size_t s = 1; s < by_n.size(); ++s)
    for (int64_t i = 0; i < by_n[s].size(); ++i) EXPECT_GE(by_n[s].data()[i], by_n[s - 1].data()[i] * (1 - 1e-5));
  // Successive differences shrink: the polygonal length converges to the arc length.
  double prev_gap = 1e30;
  for (size_t s = 3; s < by_n.size(); ++s) {
    double gap = 0;
    for (int64_t i = 0; i < by_n[s].size(); ++i) gap = std::max(gap, double(by_n[s].data()[i] - by_n[s - 1].data()[i]));
    EXPECT_LT(gap, prev_gap);
    prev_gap = gap;
  }
  EXPECT_LT(prev_gap, 1e-3 * by_n.back().data()[0] + 1e-4);
}

TEST(RelativeEncoder, SphereDistanceMatchesArcOnCircle) {
  // x -> r(x)(cos x, sin x): on the unit circle after projection, the path from z to a
  // sweeps exactly |a - z| radians, whatever the radius does.
  auto map = LoadMap(CircleMapBytes(), OutputDistance::kSphere);
  ASSERT_EQ(map->input_dim(), 1);
  Matrix A(3, 1, std::vector<float>{0.5f, -1.0f, 2.5f});
  Matrix Z(4, 1, std::vector<float>{0.0f, 0.5f, 0.5f + 1e-6f, -2.0f});
  EncoderOptions o;
  o.steps = 16;
  Matrix L = EncodeWith(map, A, Z, o);
  for (int64_t i = 0; i < Z.rows(); ++i)
    for (int64_t k = 0; k < A.rows(); ++k) {
      ASSERT_TRUE(std::isfinite(L(i, k)));
      EXPECT_NEAR(L(i, k), std::abs(A(k, 0) - Z(i, 0)), 2e-5);
    }
  EXPECT_NEAR(L(1, 0), 0.0, 1e-6);  // identical points
}

TEST(RelativeEncoder, FisherDistanceMatchesClosedFormIncludingHugeLogits) {
  // Two-class logits (0, x): p = sigmoid(x). The path in sqrt-probability space is a
  // monotone arc of the unit circle, so the polygon length equals the Fisher-Rao
  // distance 2 arccos(sqrt(p q) + sqrt((1-p)(1-q))) for every N.
  auto map = LoadMap(TwoClassLogitsBytes(), OutputDistance::kFisher);
  Matrix A(3, 1, std::vector<float>{0.0f, 3.0f, 80.0f});
  Matrix Z(3, 1, std::vector<float>{-2.0f, 3.0f + 1e-5f, -90.0f});
  auto fr = [](double x, double y) {
    double p = 1 / (1 + std::exp(-x)), q = 1 / (1 + std::exp(-y));
    // Stable form: 4 asin(|sqrt(p) - sqrt(q), sqrt(1-p) - sqrt(1-q)| / 2).
    double a = std::sqrt(p) - std::sqrt(q), b = std::sqrt(1 - p) - std::sqrt(1 - q);
    return 4 * std::asin(std::min(1.0, std::sqrt(a * a + b * b) / 2));
  };
  for (int N : {1, 8}) {
    EncoderOptions o;
    o.steps = N;
    Matrix L = EncodeWith(map, A, Z, o);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 3; ++k) {
        ASSERT_TRUE(std::isfinite(L(i, k)));
        EXPECT_NEAR(L(i, k), fr(Z(i, 0), A(k, 0)), 2e-5) << i << "," << k;
      }
  }
  // Opposite certain predictions are pi apart (the largest Fisher-Rao distance).
  Matrix far = EncodeWith(map, Matrix(1, 1, std::vector<float>{80.f}), Matrix(1, 1, std::vector<float>{-90.f}), {});
  EXPECT_NEAR(far(0, 0), M_PI, 1e-4);
}

TEST(RelativeEncoder, ChunkingDoesNotChangeResults) {
  const int64_t d = 4;
  auto map = LoadMap(MlpMapBytes(d, 16, 20, 3));
  Matrix A = RandomMatrix(13, d, 4), Z = RandomMatrix(9, d, 5);
  EncoderOptions o;
  o.steps = 5;
  Matrix ref = EncodeWith(map, A, Z, o);
  for (int64_t budget : {int64_t{1}, int64_t{700}, int64_t{5000}, int64_t{40000}, int64_t{1} << 30}) {
    o.memory_budget_bytes = budget;
    Matrix got = EncodeWith(map, A, Z, o);
    for (int64_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got.data()[i], ref.data()[i], 1e-6 * (1 + ref.data()[i]));
  }
}

TEST(RelativeEncoder, BadInputGivesClearStatus) {
  const int64_t d = 4;
  auto map = LoadMap(MlpMapBytes(d, 8, 5, 1));
  Matrix A = RandomMatrix(3, d, 2);
  auto enc = RelativeEncoder::Create(map, A, {});
  ASSERT_TRUE(enc.ok());
  // Wrong latent dimension.
  auto r = (*enc)->Encode(RandomMatrix(2, d + 1, 3));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("columns"), std::string::npos);
  // NaN / Inf.
  Matrix bad = RandomMatrix(2, d, 4);
  bad(1, 2) = std::nanf("");
  r = (*enc)->Encode(bad);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("row 1, column 2"), std::string::npos);
  bad(1, 2) = INFINITY;
  EXPECT_FALSE((*enc)->Encode(bad).ok());
  // Empty batch, K = 0, N = 0.
  EXPECT_FALSE((*enc)->Encode(Matrix(0, d)).ok());
  EXPECT_FALSE(RelativeEncoder::Create(map, Matrix(0, d), {}).ok());
  EncoderOptions zero;
  zero.steps = 0;
  EXPECT_FALSE(RelativeEncoder::Create(map, A, zero).ok());
  EXPECT_FALSE(RelativeEncoder::Create(map, RandomMatrix(3, d + 2, 1), {}).ok());
  EXPECT_FALSE(RelativeEncoder::Create(nullptr, A, {}).ok());
  EXPECT_FALSE(CosineEncoder::Create(Matrix(0, d)).ok());
}

// Steps and anchors are bounded where they enter (EncoderOptions, the anchor
// latents): N <= 4096 as for collections (10^9 steps used to be accepted and run
// for ever), K <= 1,000,000.
TEST(RelativeEncoder, StepsAndAnchorCountAreBounded) {
  auto map = LoadMap(CircleMapBytes());
  const Matrix A = RandomMatrix(3, 1, 2);
  EncoderOptions o;
  o.steps = 4097;
  auto too_many = RelativeEncoder::Create(map, A, o);
  ASSERT_EQ(too_many.status().code(), StatusCode::kInvalidArgument) << too_many.status().ToString();
  EXPECT_NE(too_many.status().message().find("4096"), std::string::npos) << too_many.status().message();
  o.steps = 1000000000;
  EXPECT_EQ(RelativeEncoder::Create(map, A, o).status().code(), StatusCode::kInvalidArgument);
  o.steps = 4096;
  EXPECT_TRUE(RelativeEncoder::Create(map, A, o).ok());
  o.steps = -3;
  auto negative = RelativeEncoder::Create(map, A, o);
  EXPECT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("-3"), std::string::npos) << negative.status().message();
  auto anchors = RelativeEncoder::Create(map, Matrix(1000001, 1), {});
  ASSERT_EQ(anchors.status().code(), StatusCode::kInvalidArgument) << anchors.status().ToString();
  EXPECT_NE(anchors.status().message().find("1000000"), std::string::npos) << anchors.status().message();
  EncoderOptions budget;
  budget.memory_budget_bytes = 0;
  EXPECT_EQ(RelativeEncoder::Create(map, A, budget).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace relgeo
