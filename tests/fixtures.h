// TorchScript metric maps built in C++ at test time (no Python needed), plus
// small helpers shared by the test files. Only fixtures.cpp includes LibTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"

namespace relgeo::testing {

// A matrix from its rows (all of equal length).
Matrix FromRows(const std::vector<std::vector<float>>& rows);
// Random Gaussian matrix with a fixed seed.
Matrix RandomMatrix(int64_t rows, int64_t cols, uint64_t seed, float scale = 1.0f);
// A well-conditioned random invertible d x d matrix (identity + small noise).
Matrix RandomInvertible(int64_t d, uint64_t seed);
Matrix Inverse(const Matrix& a);
// x * T^T + t, row-wise (applies the affine map z -> T z + t to every row).
Matrix ApplyAffine(const Matrix& x, const Matrix& T, const std::vector<float>& t);

// Serialized TorchScript modules (bytes as MetricMap::FromBytes takes them).
// f(x) = x W^T + b.
std::string AffineMapBytes(const Matrix& W, const std::vector<float>& b);
// f(x) = W2 tanh(W1 x + b1) + b2 with random weights: a nonlinear map d -> m.
std::string MlpMapBytes(int64_t d, int64_t hidden, int64_t m, uint64_t seed);
// The same MLP precomposed with the inverse of z -> T z + t: g(y) = f(T^-1 (y - t)).
std::string MlpMapComposedBytes(int64_t d, int64_t hidden, int64_t m, uint64_t seed, const Matrix& T,
                                const std::vector<float>& t);
// R^1 -> R^2: x -> r * (cos x, sin x) with r = 2 + sin(3x) (a circle with varying radius).
std::string CircleMapBytes();
// R^1 -> R^2 logits (0, x): a two-class classifier head.
std::string TwoClassLogitsBytes();
// A module whose forward returns (n x ...) but the given TorchScript body.
std::string ModuleBytes(const std::string& forward_body, int64_t input_dim);

// Loads serialized map bytes (EXPECT-fails the test and returns null on error).
std::shared_ptr<MetricMap> LoadMap(const std::string& bytes, OutputDistance d = OutputDistance::kEuclidean,
                                   int64_t input_dim = 0);

// n points in d dimensions around 3 random cluster centres (scale 2, noise 0.5);
// *y the cluster of each row (i % 3).
void GaussianClusters(int64_t n, int64_t d, uint64_t seed, Matrix* x, std::vector<int64_t>* y);

// Writes bytes to a fresh file under the test temp directory; returns its path.
std::string WriteTempFile(const std::string& name, const std::string& bytes);
std::string TempDir();

}  // namespace relgeo::testing
