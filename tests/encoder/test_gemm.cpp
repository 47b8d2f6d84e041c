// The native path's GEMM (src/encoder/gemm.cpp: oneDNN's dnnl_sgemm, linked
// explicitly) against double-precision references, in one process with FAISS's
// BLAS search and LibTorch's own GEMM. Several BLAS libraries in one process can
// interpose each other's symbols (sgemm_ is exported by OpenBLAS and by MKL in the
// PyPI LibTorch): each of the three must still compute its own correct result,
// whichever order they run in.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "encoder/gemm.h"
#include "fixtures.h"
#include "relgeo/index.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// Max over entries of |C - A B| / sum_k |a_ik b_kj| (row-major, M x K times K x N):
// float32 rounding keeps this near 1e-7; a wrong GEMM makes it of order 1.
double WorstError(const Matrix& A, const Matrix& B, const float* C) {
  const int64_t M = A.rows(), K = A.cols(), N = B.cols();
  double worst = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double want = 0, scale = 0;
      for (int64_t k = 0; k < K; ++k) {
        want += static_cast<double>(A(i, k)) * B(k, j);
        scale += std::abs(static_cast<double>(A(i, k)) * B(k, j));
      }
      worst = std::max(worst, std::abs(C[i * N + j] - want) / std::max(1e-30, scale));
    }
  return worst;
}

double SgemmError(int64_t M, int64_t K, int64_t N, uint64_t seed) {
  Matrix A = RandomMatrix(M, K, seed), B = RandomMatrix(K, N, seed + 1), C(M, N);
  EXPECT_EQ(internal::OneDnnSgemm('N', 'N', M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N), 0);
  return WorstError(A, B, C.data());
}

double TorchMmError(int64_t M, int64_t K, int64_t N, uint64_t seed) {
  Matrix A = RandomMatrix(M, K, seed), B = RandomMatrix(K, N, seed + 1);
  c10::InferenceMode guard;
  torch::Tensor a = torch::from_blob(A.data(), {M, K}), b = torch::from_blob(B.data(), {K, N});
  torch::Tensor c = torch::mm(a, b).contiguous();
  return WorstError(A, B, c.data_ptr<float>());
}

// Fraction of queries whose FAISS Flat top-1 is the exact top-1 (cosine), on a
// batch large enough (64 queries) that FAISS takes its BLAS path.
double FaissTop1Agreement(uint64_t seed) {
  const int64_t n = 4000, d = 48, q = 64;
  Matrix base = RandomMatrix(n, d, seed), queries = RandomMatrix(q, d, seed + 1);
  auto spec = IndexSpec::Parse("Flat");
  EXPECT_TRUE(spec.ok());
  auto index = VectorIndex::Create(*spec, d);
  EXPECT_TRUE(index.ok());
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  EXPECT_TRUE((*index)->Add(ids.data(), base).ok());
  std::vector<int64_t> got(q);
  std::vector<float> scores(q);
  EXPECT_TRUE((*index)->Search(queries, 1, {}, nullptr, got.data(), scores.data()).ok());
  int64_t agree = 0;
  for (int64_t i = 0; i < q; ++i) {
    double best = -2;
    int64_t best_id = -1;
    double qn = 0;
    for (int64_t k = 0; k < d; ++k) qn += static_cast<double>(queries(i, k)) * queries(i, k);
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0, bn = 0;
      for (int64_t k = 0; k < d; ++k) {
        dot += static_cast<double>(queries(i, k)) * base(j, k);
        bn += static_cast<double>(base(j, k)) * base(j, k);
      }
      const double cos = dot / std::sqrt(qn * bn);
      if (cos > best) best = cos, best_id = j;
    }
    agree += got[i] == best_id;
  }
  return static_cast<double>(agree) / q;
}

TEST(Gemm, OneDnnSgemmMatchesDoublePrecisionIncludingTransposes) {
  // On the PyTorch-wheel build libdnnl is loaded privately (gemm.cpp); it must load,
  // or the native path silently falls back to TorchScript.
  ASSERT_TRUE(internal::OneDnnAvailable());
  EXPECT_LT(SgemmError(1, 1, 1, 1), 1e-6);
  EXPECT_LT(SgemmError(37, 129, 65, 2), 1e-6);
  EXPECT_LT(SgemmError(256, 512, 784, 3), 1e-6);
  // op(A) = A^T: A stored K x M.
  const int64_t M = 9, K = 33, N = 17;
  Matrix At = RandomMatrix(K, M, 4), B = RandomMatrix(K, N, 5), C(M, N);
  ASSERT_EQ(internal::OneDnnSgemm('T', 'N', M, N, K, 1.0f, At.data(), M, B.data(), N, 0.0f, C.data(), N), 0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double want = 0;
      for (int64_t k = 0; k < K; ++k) want += static_cast<double>(At(k, i)) * B(k, j);
      EXPECT_NEAR(C(i, j), want, 1e-4 * std::max(1.0, std::abs(want)));
    }
}

TEST(Gemm, FaissLibTorchAndOneDnnAreEachCorrectInOneProcess) {
  // Interleaved, both orders: a library that grabbed another's sgemm_ (or its
  // thread settings) would show as a wrong result or a lost top-1.
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(FaissTop1Agreement(10 + round), 1.0) << "FAISS Flat, round " << round;
    EXPECT_LT(SgemmError(200, 300, 100, 20 + round), 1e-6) << "dnnl_sgemm, round " << round;
    EXPECT_LT(TorchMmError(200, 300, 100, 30 + round), 1e-6) << "torch::mm, round " << round;
  }
}

}  // namespace
}  // namespace relgeo
