#include "fixtures.h"

#include <gtest/gtest.h>

#include <torch/script.h>

#include <Eigen/Dense>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace relgeo::testing {
namespace {

torch::Tensor ToTensor(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32).clone();
}
torch::Tensor ToTensor(const std::vector<float>& v) {
  return torch::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kFloat32).clone();
}

std::string Save(torch::jit::Module& m) {
  std::ostringstream out;
  m.save(out);
  return out.str();
}

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

Matrix RandomMatrix(int64_t rows, int64_t cols, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = g(rng);
  return m;
}

Matrix RandomInvertible(int64_t d, uint64_t seed) {
  Matrix m = RandomMatrix(d, d, seed, 0.3f / std::sqrt(static_cast<float>(d)));
  for (int64_t i = 0; i < d; ++i) m(i, i) += 1.0f + 0.5f * static_cast<float>(i % 3);
  return m;
}

Matrix Inverse(const Matrix& a) {
  Eigen::MatrixXd x = Eigen::Map<const RowMajor>(a.data(), a.rows(), a.cols()).cast<double>();
  RowMajor inv = x.inverse().cast<float>();
  return Matrix(a.rows(), a.cols(), std::vector<float>(inv.data(), inv.data() + inv.size()));
}

Matrix ApplyAffine(const Matrix& x, const Matrix& T, const std::vector<float>& t) {
  Matrix out(x.rows(), T.rows());
  for (int64_t i = 0; i < x.rows(); ++i)
    for (int64_t r = 0; r < T.rows(); ++r) {
      double s = t.empty() ? 0.0 : t[r];
      for (int64_t c = 0; c < T.cols(); ++c) s += static_cast<double>(T(r, c)) * x(i, c);
      out(i, r) = static_cast<float>(s);
    }
  return out;
}

std::string AffineMapBytes(const Matrix& W, const std::vector<float>& b) {
  torch::jit::Module m("Affine");
  m.register_parameter("W", ToTensor(W), false);
  m.register_parameter("b", ToTensor(b), false);
  m.define("def forward(self, x):\n  return torch.matmul(x, self.W.t()) + self.b\n");
  return Save(m);
}

namespace {
torch::jit::Module Mlp(int64_t d, int64_t hidden, int64_t m, uint64_t seed) {
  torch::jit::Module mod("Mlp");
  const float s1 = 1.5f / std::sqrt(static_cast<float>(d)), s2 = 1.0f / std::sqrt(static_cast<float>(hidden));
  mod.register_parameter("W1", ToTensor(RandomMatrix(hidden, d, seed, s1)), false);
  mod.register_parameter("b1", ToTensor(RandomMatrix(1, hidden, seed + 1, 0.3f).storage()), false);
  mod.register_parameter("W2", ToTensor(RandomMatrix(m, hidden, seed + 2, s2)), false);
  mod.register_parameter("b2", ToTensor(RandomMatrix(1, m, seed + 3, 0.1f).storage()), false);
  return mod;
}
}  // namespace

std::string MlpMapBytes(int64_t d, int64_t hidden, int64_t m, uint64_t seed) {
  torch::jit::Module mod = Mlp(d, hidden, m, seed);
  mod.define(
      "def forward(self, x):\n"
      "  h = torch.tanh(torch.matmul(x, self.W1.t()) + self.b1)\n"
      "  return torch.matmul(h, self.W2.t()) + self.b2\n");
  return Save(mod);
}

std::string MlpMapComposedBytes(int64_t d, int64_t hidden, int64_t m, uint64_t seed, const Matrix& T,
                                const std::vector<float>& t) {
  torch::jit::Module mod("MlpComposed");
  // Registered first so that the latent dimension is inferred from Tinv (d x d).
  mod.register_parameter("Tinv", ToTensor(Inverse(T)), false);
  mod.register_parameter("t", ToTensor(t), false);
  torch::jit::Module inner = Mlp(d, hidden, m, seed);
  for (const auto& p : inner.named_parameters()) mod.register_parameter(p.name, p.value, false);
  mod.define(
      "def forward(self, y):\n"
      "  x = torch.matmul(y - self.t, self.Tinv.t())\n"
      "  h = torch.tanh(torch.matmul(x, self.W1.t()) + self.b1)\n"
      "  return torch.matmul(h, self.W2.t()) + self.b2\n");
  return Save(mod);
}

std::string CircleMapBytes() {
  return ModuleBytes(
      "  r = 2.0 + torch.sin(3.0 * x)\n"
      "  return torch.cat([r * torch.cos(x), r * torch.sin(x)], 1)\n",
      1);
}

std::string TwoClassLogitsBytes() { return ModuleBytes("  return torch.cat([torch.zeros_like(x), x], 1)\n", 1); }

std::string ModuleBytes(const std::string& forward_body, int64_t input_dim) {
  torch::jit::Module m("Custom");
  m.register_attribute("input_dim", c10::IntType::get(), input_dim);
  m.define("def forward(self, x):\n" + forward_body);
  return Save(m);
}

Matrix FromRows(const std::vector<std::vector<float>>& rows) {
  std::vector<float> data;
  for (const auto& r : rows) data.insert(data.end(), r.begin(), r.end());
  return Matrix(static_cast<int64_t>(rows.size()), rows.empty() ? 0 : static_cast<int64_t>(rows[0].size()), data);
}

std::shared_ptr<MetricMap> LoadMap(const std::string& bytes, OutputDistance d, int64_t input_dim) {
  MetricMapOptions o;
  o.distance = d;
  o.input_dim = input_dim;
  auto r = MetricMap::FromBytes(bytes, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : nullptr;
}

void GaussianClusters(int64_t n, int64_t d, uint64_t seed, Matrix* x, std::vector<int64_t>* y) {
  Matrix centres = RandomMatrix(3, d, seed, 2.0f);
  Matrix noise = RandomMatrix(n, d, seed + 1, 0.5f);
  *x = Matrix(n, d);
  y->assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    (*y)[i] = i % 3;
    for (int64_t c = 0; c < d; ++c) (*x)(i, c) = centres(i % 3, c) + noise(i, c);
  }
}

std::string TempDir() {
  static std::string dir = [] {
    auto p = std::filesystem::temp_directory_path() / ("relgeo_tests_" + std::to_string(getpid()));
    std::filesystem::create_directories(p);
    return p.string();
  }();
  return dir;
}

std::string WriteTempFile(const std::string& name, const std::string& bytes) {
  std::string path = TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace relgeo::testing
