#include "encoder_flops.h"

#include <torch/script.h>

#include <algorithm>

namespace relgeo::bench {

namespace {

torch::Tensor Rows(const Matrix& x, int64_t n) {
  return torch::from_blob(const_cast<float*>(x.data()), {std::min(n, x.rows()), x.cols()}, torch::kFloat32);
}

}  // namespace

double SignChangeFraction(const torch::jit::Module& mod, const std::string& w, const std::string& b, const Matrix& Z,
                          const Matrix& A) {
  c10::InferenceMode guard;
  torch::Tensor W = mod.attr(w).toTensor(), B = mod.attr(b).toTensor();
  auto pre = [&](const Matrix& x) { return torch::addmm(B, Rows(x, x.rows()), W.t()) > 0; };
  torch::Tensor pz = pre(Z), pa = pre(A);
  return (pz.unsqueeze(1) != pa.unsqueeze(0)).to(torch::kFloat64).mean().item<double>();
}

double IntervalCoverage(const torch::jit::Module& mod, const std::string& w1, const std::string& b1,
                        const std::string& w2, const std::string& b2, const Matrix& Z, const Matrix& A, int steps,
                        int64_t queries) {
  c10::InferenceMode guard;
  auto attr = [&](const std::string& n) { return mod.attr(n).toTensor(); };
  const torch::Tensor W1 = attr(w1), B1 = attr(b1), W2 = attr(w2), B2 = attr(b2);
  const torch::Tensor a = Rows(A, A.rows());
  const torch::Tensor t = torch::arange(1, steps, torch::kFloat32) / steps;  // the interior points
  const int64_t S = steps - 1;
  double covered = 0, total = 0;
  for (int64_t q = 0; q < std::min(queries, Z.rows()); ++q) {
    const torch::Tensor z = Rows(Z, q + 1)[q];
    // K x S x d points, then the second hidden layer's nonzero mask (K x S x h2).
    const torch::Tensor pts = z + t.view({1, S, 1}) * (a - z).unsqueeze(1);
    const torch::Tensor h1 = torch::relu(torch::addmm(B1, pts.reshape({-1, pts.size(2)}), W1.t()));
    const torch::Tensor on = (torch::addmm(B2, h1, W2.t()) > 0).view({a.size(0), S, -1});
    for (int64_t s0 = 0; s0 < S; s0 += 8) {
      const int64_t s1 = std::min<int64_t>(S, s0 + 8);
      const torch::Tensor m = on.slice(1, s0, s1);
      const torch::Tensor pos = torch::arange(s1 - s0, torch::kInt64).view({1, -1, 1});
      const torch::Tensor first = torch::where(m, pos, s1 - s0).amin(1), last = torch::where(m, pos, -1).amax(1);
      covered += (last - first + 1).clamp_min(0).sum().item<double>();
    }
    total += double(on.numel());
  }
  return total > 0 ? covered / total : 0.0;
}

}  // namespace relgeo::bench
