// Internal: the few pieces of neural-network training the heads need, on plain
// tensors (no torch::nn), so training math and the exported TorchScript match.
#pragma once

#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "relgeo/matrix.h"

namespace relgeo::nn {

// U(-bound, bound) from a seeded generator (deterministic on every platform).
inline torch::Tensor Uniform(std::vector<int64_t> shape, double bound, std::mt19937_64& rng) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::uniform_real_distribution<float> u(static_cast<float>(-bound), static_cast<float>(bound));
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return torch::from_blob(v.data(), shape, torch::kFloat32).clone();
}

inline torch::Tensor Normal(std::vector<int64_t> shape, std::mt19937_64& rng) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = g(rng);
  return torch::from_blob(v.data(), shape, torch::kFloat32).clone();
}

// A Linear layer's parameters with PyTorch's default initialisation bounds.
struct LinearParams {
  torch::Tensor w, b;  // out x in, out (b undefined without bias)
  LinearParams(int64_t in, int64_t out, bool bias, std::mt19937_64& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    w = Uniform({out, in}, bound, rng).requires_grad_(true);
    if (bias) b = Uniform({out}, bound, rng).requires_grad_(true);
  }
  torch::Tensor operator()(const torch::Tensor& x) const {
    torch::Tensor y = torch::matmul(x, w.t());
    return b.defined() ? y + b : y;
  }
};

// The update runs in place on buffers made once: a DIET head's output layer has P x H
// weights (2 million for P = 4,000), and temporaries of that size on every step cost
// more than the step's GEMMs (fresh pages from the allocator each time).
struct Adam {
  std::vector<torch::Tensor> params, m, v, denom;
  double lr, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  int64_t t = 0;
  Adam(std::vector<torch::Tensor> p, double learning_rate) : params(std::move(p)), lr(learning_rate) {
    for (auto& x : params) {
      m.push_back(torch::zeros_like(x));
      v.push_back(torch::zeros_like(x));
      denom.push_back(torch::empty_like(x));
    }
  }
  void Step(const torch::Tensor& loss) {
    auto grads = torch::autograd::grad({loss}, params);
    torch::NoGradGuard ng;
    ++t;
    const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
    for (size_t i = 0; i < params.size(); ++i) {
      m[i].mul_(b1).add_(grads[i], 1 - b1);
      v[i].mul_(b2).addcmul_(grads[i], grads[i], 1 - b2);
      // params -= lr / c1 * m / (sqrt(v / c2) + eps)
      torch::sqrt_out(denom[i], v[i]).div_(std::sqrt(c2)).add_(eps);
      params[i].addcdiv_(m[i], denom[i], -lr / c1);
    }
  }
};

inline std::vector<int64_t> Permutation(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {  // own Fisher-Yates: same order on every platform
    std::uniform_int_distribution<int64_t> u(0, i);
    std::swap(p[i], p[u(rng)]);
  }
  return p;
}

inline torch::Tensor Tensor(MatrixView m) {
  return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32).clone();
}
inline torch::Tensor Labels(const std::vector<int64_t>& l) {
  return torch::from_blob(const_cast<int64_t*>(l.data()), {static_cast<int64_t>(l.size())}, torch::kInt64).clone();
}

}  // namespace relgeo::nn
