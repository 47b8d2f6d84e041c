// The encoder's affine first-layer fast path (EncoderOptions::allow_affine_fast_path):
// which maps take it, that it gives the plain path's values for every distance and
// mode, that it falls back when the first layer is not a plain affine map, and that
// its batches respect the memory budget. Then the relu sign split
// (EncoderOptions::allow_relu_sign_split): its two kernels against a double-precision
// reference, and the encoder with and without it.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "encoder/batch_producers.h"
#include "encoder/path_kernels.h"
#include "encoder/sign_split.h"
#include "fixtures.h"
#include "relgeo/autoencoder.h"
#include "relgeo/relative_encoder.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

torch::Tensor T(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32).clone();
}
std::string Save(torch::jit::Module& m) {
  std::ostringstream out;
  m.save(out);
  return out.str();
}

// d -> h -> m with F.linear layers (how a scripted torch.nn.Linear looks), ReLU then
// sigmoid, like the paper's MLP decoder; the first layer sits in a submodule so the
// detection must see through a method call.
std::string LinearMlpBytes(int64_t d, int64_t h, int64_t m, uint64_t seed, const std::string& extra = "") {
  torch::jit::Module first("First");
  first.register_parameter("weight", T(RandomMatrix(h, d, seed, 1.5f / std::sqrt(float(d)))), false);
  first.register_parameter("bias", T(RandomMatrix(1, h, seed + 1, 0.3f)).reshape({h}), false);
  first.define("def forward(self, x):\n  return torch.linear(x, self.weight, self.bias)\n");
  torch::jit::Module mod("LinearMlp");
  mod.register_module("first", first);
  mod.register_parameter("W2", T(RandomMatrix(m, h, seed + 2, 2.0f / std::sqrt(float(h)))), false);
  mod.register_parameter("b2", T(RandomMatrix(1, m, seed + 3, 0.1f)).reshape({m}), false);
  mod.define(
      "def forward(self, x):\n"
      "  h = torch.relu(self.first.forward(x))\n"
      "  return torch.sigmoid(torch.linear(h, self.W2, self.b2))" + extra + "\n");
  return Save(mod);
}

// relu -> linear -> relu -> linear -> sigmoid after the affine first layer: the split
// takes the first linear layer, the active-interval product the second where the
// second relu leaves it sparse enough (bias2 < 0 makes it so), else the dense GEMM.
std::string DeepMlpBytes(int64_t d, int64_t h, int64_t h2, int64_t m, uint64_t seed, float bias1,
                         float bias2 = 0.0f) {
  torch::jit::Module mod("DeepMlp");
  mod.register_parameter("W1", T(RandomMatrix(h, d, seed, 1.0f / std::sqrt(float(d)))), false);
  mod.register_parameter("b1", torch::full({h}, bias1), false);
  // (scaled down by a large bias1 so that the next layer's inputs stay O(1))
  mod.register_parameter("W2", T(RandomMatrix(h2, h, seed + 1, 1.0f / std::sqrt(float(h)) / std::max(1.0f, bias1))),
                         false);
  mod.register_parameter("b2", bias2 + T(RandomMatrix(1, h2, seed + 2, 0.1f)).reshape({h2}), false);
  mod.register_parameter("W3", T(RandomMatrix(m, h2, seed + 3, 1.0f / std::sqrt(float(h2)))), false);
  mod.register_parameter("b3", T(RandomMatrix(1, m, seed + 4, 0.1f)).reshape({m}), false);
  mod.define(
      "def forward(self, x):\n"
      "  h = torch.relu(torch.linear(x, self.W1, self.b1))\n"
      "  h = torch.relu(torch.linear(h, self.W2, self.b2))\n"
      "  return torch.sigmoid(torch.linear(h, self.W3, self.b3))\n");
  return Save(mod);
}

// The paper's conv decoder shape, scaled down: Linear(d, c*7*7) + ReLU, Unflatten,
// ConvTranspose2d(c, c/2, 3, s2, p1, op1) + ReLU, ConvTranspose2d(c/2, 1, ...) + Sigmoid.
std::string ConvDecoderBytes(int64_t d, int64_t c, uint64_t seed) {
  torch::jit::Module mod("ConvDecoder");
  mod.register_attribute("input_dim", c10::IntType::get(), d);
  mod.register_parameter("W0", T(RandomMatrix(c * 49, d, seed, 1.0f / std::sqrt(float(d)))), false);
  mod.register_parameter("b0", T(RandomMatrix(1, c * 49, seed + 1, 0.1f)).reshape({c * 49}), false);
  mod.register_parameter("W1", torch::randn({c, c / 2, 3, 3}, torch::TensorOptions().dtype(torch::kFloat32)) * 0.2, false);
  mod.register_parameter("b1", torch::zeros({c / 2}), false);
  mod.register_parameter("W2", torch::randn({c / 2, 1, 3, 3}) * 0.2, false);
  mod.register_parameter("b2", torch::zeros({1}), false);
  mod.define(
      "def forward(self, x):\n"
      "  h = torch.relu(torch.linear(x, self.W0, self.b0))\n"
      "  h = h.view(-1, " + std::to_string(c) + ", 7, 7)\n"
      "  h = torch.relu(torch.conv_transpose2d(h, self.W1, self.b1, 2, 1, 1))\n"
      "  return torch.sigmoid(torch.conv_transpose2d(h, self.W2, self.b2, 2, 1, 1))\n");
  return Save(mod);
}

// LayerNorm(d) -> Linear(d, h) + Tanh [-> Linear(h, m)], written as relgeo's heads
// export it (heads.cpp: [self.input_dim], gamma and beta, matmul + add); or with
// `plain` torch.layer_norm without gamma and beta, F.linear, ReLU and a second layer.
std::string LayerNormHeadBytes(int64_t d, int64_t h, int64_t m, uint64_t seed, bool plain = false) {
  torch::jit::Module mod("Head");
  mod.register_attribute("input_dim", c10::IntType::get(), d);
  mod.register_parameter("ln_w", 1.0 + T(RandomMatrix(1, d, seed, 0.5f)).reshape({d}), false);
  mod.register_parameter("ln_b", T(RandomMatrix(1, d, seed + 1, 0.5f)).reshape({d}), false);
  mod.register_parameter("W1", T(RandomMatrix(h, d, seed + 2, 1.5f / std::sqrt(float(d)))), false);
  mod.register_parameter("b1", T(RandomMatrix(1, h, seed + 3, 0.3f)).reshape({h}), false);
  std::string body = "def forward(self, x):\n";
  if (plain)
    body += "  h = torch.relu(torch.linear(torch.layer_norm(x, [" + std::to_string(d) +
            "], None, None, 1e-05, False), self.W1, self.b1))\n";
  else
    body += "  h = torch.layer_norm(x, [self.input_dim], self.ln_w, self.ln_b, 1e-05, False)\n"
            "  h = torch.tanh(torch.matmul(h, self.W1.t()) + self.b1)\n";
  if (m > 0) {
    mod.register_parameter("W2", T(RandomMatrix(m, h, seed + 4, 2.0f / std::sqrt(float(h)))), false);
    mod.register_parameter("b2", T(RandomMatrix(1, m, seed + 5, 0.1f)).reshape({m}), false);
    body += "  return torch.linear(h, self.W2, self.b2)\n";
  } else {
    body += "  return h\n";
  }
  mod.define(body);
  return Save(mod);
}

struct Encoded {
  Matrix reps;
  bool fast = false;
  int64_t rows = 0;
  std::string plan;
};

Encoded Encode(const std::shared_ptr<MetricMap>& map, const Matrix& A, const Matrix& Z, EncoderOptions o) {
  auto enc = RelativeEncoder::Create(map, A, o);
  EXPECT_TRUE(enc.ok()) << enc.status().ToString();
  if (!enc.ok()) return {};
  auto r = (*enc)->Encode(Z);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return {r.ok() ? *r : Matrix(), (*enc)->affine_fast_path(), (*enc)->rows_per_batch(), (*enc)->execution_plan()};
}

double MaxRelDiff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (int64_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - b.data()[i]) / std::max(1e-6, std::abs(double(b.data()[i]))));
  return worst;
}

// Relative to each entry, but entries near 0 (lines from an anchor to itself) are
// compared to a tenth of the largest one (their float noise is ~1e-7 of it).
double MaxScaledDiff(const Matrix& a, const Matrix& b) {
  double scale = 0, worst = 0;
  for (int64_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::abs(double(b.data()[i])));
  for (int64_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - b.data()[i]) /
                                std::max(0.1 * scale, std::abs(double(b.data()[i]))));
  return worst;
}

TEST(EncoderFastPath, DetectsAffineFirstLayers) {
  Matrix A = RandomMatrix(5, 6, 1), Z = RandomMatrix(3, 6, 2);
  EXPECT_TRUE(Encode(LoadMap(LinearMlpBytes(6, 16, 10, 3)), A, Z, {}).fast);                 // F.linear in a submodule
  EXPECT_TRUE(Encode(LoadMap(MlpMapBytes(6, 16, 10, 4)), A, Z, {}).fast);                    // x @ W.t() + b
  EXPECT_TRUE(Encode(LoadMap(AffineMapBytes(RandomMatrix(9, 6, 5), RandomMatrix(1, 9, 6).storage())), A, Z, {}).fast);
  EXPECT_TRUE(Encode(LoadMap(ConvDecoderBytes(6, 8, 7)), A, Z, {}).fast);
  // The rest of an MLP runs natively; a conv rest stays in TorchScript.
  EXPECT_NE(Encode(LoadMap(LinearMlpBytes(6, 16, 10, 3)), A, Z, {}).plan.find("native: relu linear 16->10 sigmoid"),
            std::string::npos);
  EXPECT_NE(Encode(LoadMap(MlpMapBytes(6, 16, 10, 4)), A, Z, {}).plan.find("native: tanh linear 16->10"), std::string::npos);
  EXPECT_NE(Encode(LoadMap(ConvDecoderBytes(6, 8, 7)), A, Z, {}).plan.find("native: relu conv_transpose2d 8x7x7->4x14x14"),
            std::string::npos);
  // An activation the native executor does not know keeps the TorchScript rest.
  EXPECT_NE(Encode(LoadMap(LinearMlpBytes(6, 16, 10, 3, " * torch.gelu(x.sum(1, keepdim=True) * 0.0 + 1.0)")), A, Z, {})
                .plan.find("torchscript forward"),
            std::string::npos);
  EXPECT_NE(Encode(LoadMap(ModuleBytes("  return torch.gelu(torch.matmul(x, torch.ones(6, 4)))\n", 6)), A, Z, {})
                .plan.find("torchscript forward"),
            std::string::npos);
  {
    torch::jit::Module g("Gelu");
    g.register_parameter("W", T(RandomMatrix(8, 6, 9)), false);
    g.define("def forward(self, x):\n  return torch.gelu(torch.linear(x, self.W))\n");
    EXPECT_NE(Encode(LoadMap(Save(g)), A, Z, {}).plan.find("torchscript rest"), std::string::npos);
  }
  EncoderOptions no_native;
  no_native.allow_native_mlp = false;
  EXPECT_NE(Encode(LoadMap(LinearMlpBytes(6, 16, 10, 3)), A, Z, no_native).plan.find("torchscript rest"), std::string::npos);
  EncoderOptions off;
  off.allow_affine_fast_path = false;
  EXPECT_FALSE(Encode(LoadMap(LinearMlpBytes(6, 16, 10, 3)), A, Z, off).fast);
  // x used twice: the first op is not the whole story, so the plain forward is used.
  EXPECT_FALSE(Encode(LoadMap(LinearMlpBytes(6, 16, 10, 3, " + x.sum(1, keepdim=True)")), A, Z, {}).fast);
  // A nonlinear first op.
  EXPECT_FALSE(Encode(LoadMap(ModuleBytes("  return torch.tanh(x) * 2.0\n", 6)), A, Z, {}).fast);
  // A LayerNorm before the first layer is split off with it (affine_split.h).
  EXPECT_NE(Encode(LoadMap(LayerNormHeadBytes(6, 16, 0, 11)), A, Z, {}).plan.find(
                "affine aten::layer_norm+aten::matmul+add 6->16 + native: tanh"),
            std::string::npos);
  EXPECT_NE(Encode(LoadMap(LayerNormHeadBytes(6, 16, 4, 12, true)), A, Z, {}).plan.find(
                "affine aten::layer_norm+aten::linear 6->16 + native: relu linear 16->4"),
            std::string::npos);
  // ... but not one whose gamma is computed, nor one whose output has a second use.
  EXPECT_FALSE(Encode(LoadMap(ModuleBytes("  return torch.linear(torch.layer_norm(x, [6], torch.ones(6) * 2.0, None, "
                                          "1e-05, False), torch.ones(3, 6))\n", 6)), A, Z, {}).fast);
  EXPECT_FALSE(Encode(LoadMap(ModuleBytes("  h = torch.layer_norm(x, [6], None, None, 1e-05, False)\n"
                                          "  return torch.linear(h, torch.ones(3, 6)) + h.sum(1, keepdim=True)\n", 6)),
                      A, Z, {}).fast);
}

// The native plan's vectorised tanh (path_kernels.cpp) against std::tanh, across the
// polynomial/exponential switch at 0.125, the saturation at 9, tiny and signed inputs,
// with and without a bias.
TEST(EncoderFastPath, NativeTanhMatchesStdTanh) {
  std::vector<float> x;
  for (float v = -20.0f; v <= 20.0f; v += 0.00137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-20f, 1e-7f, 0.1249999f, 0.125f, 0.1250001f, 8.999f, 9.0f, 50.0f, -88.0f})
    x.push_back(v);
  std::vector<float> bias(x.size(), 0.25f), y = x, yb = x;
  internal::ApplyActs(y.data(), static_cast<int64_t>(y.size()), nullptr, {internal::Act::kTanh});
  internal::ApplyActs(yb.data(), static_cast<int64_t>(yb.size()), bias.data(), {internal::Act::kTanh});
  double worst = 0, worst_b = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::tanh(double(x[i])), want_b = std::tanh(double(x[i]) + 0.25);
    worst = std::max(worst, std::abs(y[i] - want) / std::max(1e-30, std::abs(want)));
    worst_b = std::max(worst_b, std::abs(yb[i] - want_b) / std::max(1e-30, std::abs(want_b)));
    ASSERT_EQ(std::signbit(y[i]), std::signbit(x[i])) << x[i];
  }
  EXPECT_LE(worst, 2e-6);
  EXPECT_LE(worst_b, 2e-6);
}

// Calls check(name, distance, mode, options) for every map, output distance, path
// mode and N in `steps`, the map loaded with that distance.
template <typename Check>
void ForEveryDistanceModeAndSteps(const std::vector<std::pair<std::string, std::string>>& maps,
                                  const std::vector<int>& steps, const Check& check) {
  for (const auto& [name, bytes] : maps)
    for (OutputDistance dist : {OutputDistance::kEuclidean, OutputDistance::kSphere, OutputDistance::kFisher}) {
      auto map = LoadMap(bytes, dist);
      for (PathMode mode : {PathMode::kLength, PathMode::kEnergy})
        for (int N : steps) {
          EncoderOptions o;
          o.steps = N;
          o.mode = mode;
          check(name, map, o);
        }
    }
}

// relgeo's own decoders (train-ae) are written with addmm(b, x, W.t()) and reshape to
// [x.size(0), ...]: both architectures must take the fast path and the native plan.
TEST(EncoderFastPath, RelgeosOwnAutoencodersRunNatively) {
  Matrix images = RandomMatrix(32, 784, 121, 0.3f);
  for (float& v : images.storage()) v = std::clamp(v + 0.5f, 0.0f, 1.0f);
  for (AeArch arch : {AeArch::kMlp, AeArch::kConv}) {
    AeTrainOptions to;
    to.arch = arch;
    to.latent_dim = 8;
    to.epochs = 1;
    to.batch_size = 16;
    auto ae = TrainAutoencoder(images, Matrix(0, 784), to);
    ASSERT_TRUE(ae.ok()) << ae.status().ToString();
    auto map = LoadMap(ae->decoder_bytes);
    Matrix A = RandomMatrix(9, 8, 122), Z = RandomMatrix(5, 8, 123);
    EncoderOptions o;
    Encoded fast = Encode(map, A, Z, o);
    o.allow_affine_fast_path = false;
    Encoded plain = Encode(map, A, Z, o);
    EXPECT_NE(fast.plan.find("affine aten::addmm 8->"), std::string::npos) << fast.plan;
    EXPECT_NE(fast.plan.find("native"), std::string::npos) << fast.plan;
    if (arch == AeArch::kMlp) EXPECT_NE(fast.plan.find("relu sign split"), std::string::npos) << fast.plan;
    EXPECT_LE(MaxRelDiff(fast.reps, plain.reps), 1e-5) << AeArchName(arch);
  }
}

TEST(EncoderFastPath, EqualsPlainPathForEveryDistanceAndMode) {
  const int64_t d = 12;
  Matrix A = RandomMatrix(11, d, 21), Z = RandomMatrix(7, d, 22);
  const std::vector<std::pair<std::string, std::string>> maps = {
      {"linear-relu-sigmoid", LinearMlpBytes(d, 48, 30, 23)},
      {"matmul-tanh", MlpMapBytes(d, 40, 20, 24)},
      {"conv", ConvDecoderBytes(d, 8, 25)},
      {"layernorm-matmul-tanh", LayerNormHeadBytes(d, 40, 0, 26)},
      {"layernorm-linear-relu-linear", LayerNormHeadBytes(d, 40, 9, 27, true)},
  };
  ForEveryDistanceModeAndSteps(maps, {1, 2, 8, 33}, [&](const std::string& name, const auto& map, EncoderOptions o) {
    const OutputDistance dist = map->distance();
    const PathMode mode = o.mode;
    const int N = o.steps;
    Encoded fast = Encode(map, A, Z, o);
    o.allow_native_mlp = false;
    Encoded script_rest = Encode(map, A, Z, o);
    o.allow_affine_fast_path = false;
    Encoded plain = Encode(map, A, Z, o);
    ASSERT_TRUE(fast.fast) << name;
    ASSERT_FALSE(plain.fast);
    EXPECT_NE(fast.plan.find("native"), std::string::npos) << fast.plan;
    EXPECT_NE(script_rest.plan.find("torchscript rest"), std::string::npos) << script_rest.plan;
    EXPECT_LE(MaxRelDiff(fast.reps, plain.reps), 1e-5)
        << name << " " << OutputDistanceName(dist) << " " << PathModeName(mode) << " N=" << N;
    EXPECT_LE(MaxRelDiff(script_rest.reps, plain.reps), 1e-5)
        << name << " " << OutputDistanceName(dist) << " " << PathModeName(mode) << " N=" << N;
  });
}

TEST(EncoderFastPath, BatchesRespectTheMemoryBudgetAndDoNotChangeResults) {
  const int64_t d = 16, h = 64, m = 50;
  auto map = LoadMap(LinearMlpBytes(d, h, m, 31));
  Matrix A = RandomMatrix(37, d, 32), Z = RandomMatrix(9, d, 33);
  EncoderOptions o;
  o.steps = 12;
  Encoded ref = Encode(map, A, Z, o);
  ASSERT_TRUE(ref.fast);
  // Per path point in a batch the encoder holds 4 (2h + 6m) bytes, within 3/4 of the budget;
  // budgets too small for 11 interior steps per batch carry lines over step blocks.
  for (int64_t budget : {int64_t{1}, int64_t{4000}, int64_t{20000}, int64_t{100000}, int64_t{1} << 22}) {
    o.memory_budget_bytes = budget;
    Encoded got = Encode(map, A, Z, o);
    EXPECT_TRUE(got.fast);
    EXPECT_GE(got.rows, 1);
    if (got.rows > 1) EXPECT_LE(got.rows * 4 * (2 * h + 6 * m), budget * 3 / 4) << budget;
    EXPECT_LE(MaxRelDiff(got.reps, ref.reps), 1e-6) << budget;
  }
  // rows_per_batch is honoured, and capped by the budget.
  o.memory_budget_bytes = int64_t{1} << 30;
  o.rows_per_batch = 5;
  Encoded five = Encode(map, A, Z, o);
  EXPECT_EQ(five.rows, 5);
  EXPECT_LE(MaxRelDiff(five.reps, ref.reps), 1e-6);
  o.rows_per_batch = -1;
  EXPECT_FALSE(RelativeEncoder::Create(map, A, o).ok());
  // With the active intervals behind a second relu: lines carried over step blocks of
  // 1-11 steps (blocks of up to 8 steps, the last of a line possibly 1 step: dense).
  auto deep = LoadMap(DeepMlpBytes(d, h, 40, m, 34, 0.0f, -0.6f));
  o = EncoderOptions();
  o.steps = 12;
  Encoded deep_ref = Encode(deep, A, Z, o);
  for (int64_t rows : {2, 3, 5, 9, 11, 40}) {
    o.rows_per_batch = rows;
    Encoded got = Encode(deep, A, Z, o);
    EXPECT_EQ(got.rows, rows);
    EXPECT_LE(MaxScaledDiff(got.reps, deep_ref.reps), 1e-5) << rows << " " << got.plan;
  }
}

TEST(EncoderFastPath, BFloat16IsOptInAndClose) {
  const int64_t d = 32;
  auto map = LoadMap(LinearMlpBytes(d, 128, 96, 51));
  Matrix A = RandomMatrix(20, d, 52), Z = RandomMatrix(10, d, 53);
  EncoderOptions o;
  Encoded f32 = Encode(map, A, Z, o);
  EXPECT_EQ(f32.plan.find("bf16"), std::string::npos) << f32.plan;
  o.precision = EncoderPrecision::kBFloat16;
  Encoded b16 = Encode(map, A, Z, o);
  if (b16.plan.find("bf16 GEMM") == std::string::npos) GTEST_SKIP() << "no dnnl_gemm_bf16bf16f32: " << b16.plan;
  const double err = MaxRelDiff(b16.reps, f32.reps);
  EXPECT_LE(err, 2e-2);
  EXPECT_GT(err, 0.0);  // really a different arithmetic
}

TEST(EncoderFastPath, ConcurrentEncodesAgree) {
  // Encode is documented thread-safe: several threads share one encoder (native lanes,
  // each call with its own OpenMP team and buffers), dense, with the sign split and with
  // the active intervals.
  const int64_t d = 16;
  for (const std::string& bytes :
       {ConvDecoderBytes(d, 8, 61), LinearMlpBytes(d, 64, 40, 63), DeepMlpBytes(d, 64, 40, 25, 64, 0.0f, -0.6f)}) {
    auto map = LoadMap(bytes);
    Matrix A = RandomMatrix(23, d, 62);
    EncoderOptions o;
    o.rows_per_batch = 20;  // many groups per call
    auto enc = RelativeEncoder::Create(map, A, o);
    ASSERT_TRUE(enc.ok());
    ASSERT_NE((*enc)->execution_plan().find("native"), std::string::npos);
    std::vector<Matrix> inputs, want, got(4);
    for (int t = 0; t < 4; ++t) {
      inputs.push_back(RandomMatrix(9, d, 70 + t));
      want.push_back(*(*enc)->Encode(inputs.back()));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { got[t] = *(*enc)->Encode(inputs[t]); });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(MaxRelDiff(got[t], want[t]), 0.0) << (*enc)->execution_plan() << " " << t;
  }
}

TEST(EncoderFastPath, ErrorsInTheRestOfTheMapAreReported) {
  // The split is exact, but the rest of the map throws on large inputs: Encode reports it.
  torch::jit::Module mod("Throwing");
  mod.register_parameter("W", T(RandomMatrix(4, 2, 41)), false);
  mod.define(
      "def forward(self, x):\n"
      "  h = torch.linear(x, self.W)\n"
      "  if bool(torch.any(torch.abs(h) > 50.0)):\n"
      "    h = h.view(-1, 7)\n"
      "  return h * 2.0\n");
  auto map = LoadMap(Save(mod));
  auto enc = RelativeEncoder::Create(map, Matrix(1, 2, std::vector<float>{0.f, 0.f}), {});
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_TRUE((*enc)->affine_fast_path());
  auto r = (*enc)->Encode(Matrix(1, 2, std::vector<float>{900.f, -900.f}));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid"), std::string::npos) << r.status().message();
}

// ---- the relu sign split -------------------------------------------------------------

// Every unit satisfies relu(p(t)) = (1-t) relu(pz) + t relu(pa) + c(t), with c(t) zero
// outside the returned indices, which are exactly the units whose sign changes.
TEST(SignSplit, CorrectionsRebuildReluAlongTheLine) {
  const int64_t h = 300;
  Matrix P = RandomMatrix(2, h, 81);
  float* pz = P.row(0);
  float* pa = P.row(1);
  pz[0] = 0.0f, pa[0] = 2.0f;   // zero at one end: not a sign change (relu is linear)
  pz[1] = -1.0f, pa[1] = 0.0f;  // (both ends -> 0)
  pz[2] = 3.0f, pa[2] = -1e-30f;
  const std::vector<float> t = {0.125f, 0.25f, 0.5f, 0.875f, 1.0f / 3.0f};
  const int64_t steps = static_cast<int64_t>(t.size());
  std::vector<int32_t> want;
  for (int64_t j = 0; j < h; ++j)
    if ((pz[j] < 0) != (pa[j] < 0) && pz[j] != 0 && pa[j] != 0) want.push_back(static_cast<int32_t>(j));
  for (internal::GemmIsa isa : {internal::GemmIsa::kBest, internal::GemmIsa::kPortable}) {
    std::vector<int32_t> idx(h + 16);
    std::vector<float> C(steps * h, -99.0f), ends(2 * h + 32);
    const int64_t nnz =
        internal::SignChangeCorrections(pz, pa, h, t.data(), steps, idx.data(), C.data(), h, ends.data(), isa);
    ASSERT_EQ(nnz, static_cast<int64_t>(want.size()));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), idx.begin()));
    EXPECT_GT(nnz, h / 4);  // random signs: about half the units
    EXPECT_LT(nnz, 3 * h / 4);
    for (int64_t s = 0; s < steps; ++s) {
      std::vector<double> c(h, 0.0);
      for (int64_t k = 0; k < nnz; ++k) c[idx[k]] = C[s * h + k];
      for (int64_t j = 0; j < h; ++j) {
        const double p = pz[j] + double(t[s]) * (pa[j] - pz[j]);
        const double rebuilt = (1 - t[s]) * std::max(0.0f, pz[j]) + t[s] * std::max(0.0f, pa[j]) + c[j];
        ASSERT_NEAR(rebuilt, std::max(0.0, p), 1e-5) << "unit " << j << " t " << t[s];
      }
    }
  }
}

// Y += W c(t_s) through the tents (SignChangeTents + every tent kernel this CPU runs)
// against double precision from the plain definition of c, for step blocks of 1, 2, 3
// and 7 positions (equal positions, and a crossing exactly at a position, included),
// and column ranges with 64/16-wide blocks and masked tails.
TEST(SignSplit, TentKernelsMatchTheCorrectionsProduct) {
  std::vector<std::pair<std::string, internal::TentGemmFn>> kernels = {
      {"portable", internal::TentGemmFor(internal::GemmIsa::kPortable)},
      {"best", internal::TentGemmFor(internal::GemmIsa::kBest)}};
  if (auto k = internal::TentGemmFor(internal::GemmIsa::kAvx512)) kernels.push_back({"avx512", k});
  else std::cout << "[ info ] no AVX-512 on this CPU: only the portable kernel is tested\n";
  const int64_t h = 97, o = 150, ldy = 160;
  Matrix W = RandomMatrix(h, o, 91);
  Matrix P = RandomMatrix(2, h, 92);
  float* pz = P.row(0);
  float* pa = P.row(1);
  pz[0] = 0.0f, pa[0] = 2.0f;  // a zero end: not a sign change
  pz[1] = -1.0f, pa[1] = 1.0f;  // crosses at t = 0.5 exactly
  pz[2] = 3.0f, pa[2] = -1e-30f;
  const std::vector<std::vector<float>> blocks = {
      {0.5f}, {0.125f, 0.25f}, {0.2f, 0.2f, 0.5f}, {1 / 8.f, 2 / 8.f, 3 / 8.f, 4 / 8.f, 5 / 8.f, 6 / 8.f, 7 / 8.f}};
  for (const auto& [name, gemm] : kernels) {
    ASSERT_NE(gemm, nullptr) << name;
    for (const auto& t : blocks) {
      const int64_t steps = static_cast<int64_t>(t.size());
      std::vector<int32_t> idx(h + 16), bins(steps + 2), scratch(2 * h + 32);
      std::vector<float> coef(2 * h), ends(2 * h + 32);
      const internal::GemmIsa isa = name == "portable" ? internal::GemmIsa::kPortable : internal::GemmIsa::kBest;
      const int64_t nnz = internal::SignChangeTents(pz, pa, h, t.data(), steps, idx.data(), coef.data(), bins.data(),
                                                    ends.data(), scratch.data(), isa);
      ASSERT_EQ(bins[0], 0);
      ASSERT_EQ(bins[steps + 1], nnz);
      std::vector<int32_t> sorted(idx.begin(), idx.begin() + nnz);
      std::sort(sorted.begin(), sorted.end());
      std::vector<int32_t> want_units;
      for (int64_t j = 0; j < h; ++j)
        if ((pz[j] < 0 && pa[j] > 0) || (pz[j] > 0 && pa[j] < 0)) want_units.push_back(static_cast<int32_t>(j));
      ASSERT_EQ(sorted, want_units) << name;
      for (auto [c0, c1] : std::vector<std::pair<int64_t, int64_t>>{{0, o}, {5, 5 + 64}, {3, 19}, {100, 150}, {7, 8}}) {
        Matrix Y = RandomMatrix(steps, ldy, 93 + c0), Y0 = Y;
        gemm(steps, t.data(), bins.data(), coef.data(), idx.data(), W.data(), o, c0, c1, Y.data(), ldy);
        for (int64_t s = 0; s < steps; ++s)
          for (int64_t c = 0; c < ldy; ++c) {
            double want = Y0(s, c);
            if (c >= c0 && c < c1)
              for (int32_t j : want_units) {
                const double ts = t[s], p = pz[j] + ts * (double(pa[j]) - pz[j]);
                const double cj = std::max(0.0, p) - ((1 - ts) * std::max(0.0f, pz[j]) + ts * std::max(0.0f, pa[j]));
                want += cj * W(j, c);
              }
            ASSERT_NEAR(Y(s, c), want, 1e-4 * (1 + std::abs(want)))
                << name << " steps " << steps << " cols [" << c0 << "," << c1 << ") at " << s << "," << c;
          }
      }
    }
  }
}

TEST(SignSplit, EqualsTheDenseProductForEveryShapeDistanceAndMode) {
  const int64_t d = 10;
  Matrix A = RandomMatrix(13, d, 101), Z = RandomMatrix(6, d, 102);
  // The lines from each anchor to itself have length 0 and no sign change.
  for (int64_t i = 0; i < 2; ++i) std::copy(A.row(i), A.row(i) + d, Z.row(i));
  const std::vector<std::pair<std::string, std::string>> maps = {
      {"one linear after relu", LinearMlpBytes(d, 70, 33, 103)},
      {"two linear after relu", DeepMlpBytes(d, 64, 40, 25, 104, 0.0f)},
      {"no unit changes sign", DeepMlpBytes(d, 64, 40, 25, 105, 8.0f)},  // |W1 z| ~ N(0, 1) << 8
      // Most of the second relu's units 0: the active-interval product (25 and 100
      // outputs: a masked last vector, and two 48-column blocks before it).
      {"sparse second relu", DeepMlpBytes(d, 64, 40, 25, 109, 0.0f, -0.6f)},
      {"sparse second relu, 100 out", DeepMlpBytes(d, 64, 40, 100, 110, 0.0f, -0.6f)},
      // Transposed convolutions after relu: 4 output channels (portable kernel), 16 and
      // 32 (the AVX-512 kernel's one- and two-vector blocks, where the CPU has it).
      {"conv cout 4", ConvDecoderBytes(d, 8, 106)},
      {"conv cout 16", ConvDecoderBytes(d, 32, 107)},
      {"conv cout 32", ConvDecoderBytes(d, 64, 108)},
  };
  // N = 12: a line's 11 steps make a block of 8 and one of 3 for the active intervals.
  ForEveryDistanceModeAndSteps(maps, {1, 2, 3, 8, 12, 33}, [&](const std::string& name, const auto& map,
                                                               EncoderOptions o) {
    const OutputDistance dist = map->distance();
    const int N = o.steps;
    const uint64_t batches = internal::IntervalProductBatches();
    Encoded split = Encode(map, A, Z, o);
    o.allow_relu_sign_split = false;
    Encoded dense = Encode(map, A, Z, o);
    o.allow_affine_fast_path = false;
    Encoded plain = Encode(map, A, Z, o);
    // One interior point per line (N <= 2) is faster dense: the split is not used.
    EXPECT_EQ(split.plan.find("relu sign split") != std::string::npos, N >= 3) << N << " " << split.plan;
    if (N >= 3 && name == "conv cout 4") EXPECT_NE(split.plan.find("conv portable"), std::string::npos);
    if (N >= 3 && name == "conv cout 32" && __builtin_cpu_supports("avx512f"))
      EXPECT_NE(split.plan.find("conv avx512"), std::string::npos) << split.plan;
    const bool intervals = N >= 3 && name.rfind("conv", 0) != 0 && name != "one linear after relu" &&
                           __builtin_cpu_supports("avx512f");
    EXPECT_EQ(split.plan.find("active intervals avx512") != std::string::npos, intervals) << name << " " << split.plan;
    // ... and the sparse maps really take it (not the dense fallback of dense batches).
    if (intervals && name.rfind("sparse", 0) == 0)
      EXPECT_GT(internal::IntervalProductBatches(), batches) << name << " N=" << N;
    EXPECT_EQ(dense.plan.find("sign split"), std::string::npos) << dense.plan;
    EXPECT_EQ(dense.plan.find("active intervals"), std::string::npos) << dense.plan;
    EXPECT_NE(dense.plan.find("native"), std::string::npos) << dense.plan;
    EXPECT_LE(MaxScaledDiff(split.reps, dense.reps), 1e-5) << name << " " << OutputDistanceName(dist) << " N=" << N;
    // Against the plain forward, the large-bias map loses digits in any order of
    // operations (pre-activations ~8 differing by ~1), so it gets more slack; so do the
    // sparse maps a little (few active units: outputs near sigmoid(b3), so the chords
    // are small differences of close values; 1.1-1.2e-5 under Fisher on Debian's
    // LibTorch in a Debug build, whether or not the split runs).
    const double tol = name == "no unit changes sign" ? 3e-4 : name.rfind("sparse", 0) == 0 ? 3e-5 : 1e-5;
    EXPECT_LE(MaxScaledDiff(split.reps, plain.reps), tol) << name << " " << OutputDistanceName(dist) << " N=" << N;
    for (int64_t i = 0; i < 2; ++i) EXPECT_NEAR(split.reps(i, i), 0.0, 1e-5) << name;
  });
}

// Both transposed-convolution kernels against the convolution computed densely in
// double: the paper's 64x7x7 -> 32x14x14 shape (stride 2, pad 1, output padding 1) and
// an odd one (stride 1, pad 0, 5x5 -> 7x7, 16 channels out).
TEST(SignSplit, ConvTKernelsMatchReference) {
  struct Shape { int64_t cin, hin, win, cout, k, stride, pad, hout, wout; };
  for (const Shape& sh : {Shape{64, 7, 7, 32, 3, 2, 1, 14, 14}, Shape{5, 5, 5, 16, 3, 1, 0, 7, 7}}) {
    const int64_t P = sh.hin * sh.win, h = sh.cin * P, out = sh.cout * sh.hout * sh.wout, taps = sh.k * sh.k;
    Matrix wt = RandomMatrix(sh.cout * taps, sh.cin, 131);
    const auto T = internal::ScatterConvT::Build(wt.data(), sh.cin, sh.hin, sh.win, sh.cout, sh.k, sh.stride, sh.pad,
                                                 sh.hout, sh.wout);
    for (int64_t rows : {1, 7, 9})
      for (int64_t every : {1, 2, 7}) {  // every unit, every other, every 7th changes sign
        std::vector<int32_t> idx;
        for (int64_t j = 0; j < h; j += every) idx.push_back(static_cast<int32_t>(j));
        const int64_t nnz = static_cast<int64_t>(idx.size());
        Matrix C = RandomMatrix(rows, h, 132 + rows);
        std::vector<double> want(rows * out, 0.0);  // pixel-major, like the kernels
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t k = 0; k < nnz; ++k) {
            const int64_t ci = idx[k] / P, iy = (idx[k] % P) / sh.win, ix = idx[k] % sh.win;
            for (int64_t ky = 0; ky < sh.k; ++ky)
              for (int64_t kx = 0; kx < sh.k; ++kx) {
                const int64_t oy = iy * sh.stride - sh.pad + ky, ox = ix * sh.stride - sh.pad + kx;
                if (oy < 0 || oy >= sh.hout || ox < 0 || ox >= sh.wout) continue;
                for (int64_t co = 0; co < sh.cout; ++co)
                  want[r * out + (oy * sh.wout + ox) * sh.cout + co] +=
                      double(C(r, k)) * wt((co * sh.k + ky) * sh.k + kx, ci);
              }
          }
        Matrix got(rows, out);
        internal::ScatterConvTRows(T, rows, nnz, C.data(), h, idx.data(), got.data(), out);
        std::vector<std::pair<std::string, Matrix>> results = {{"portable", got}};
        if (auto fn = internal::GatheredConvTFor(T)) {
          Matrix g2(rows, out, std::vector<float>(rows * out, 123.0f));  // written, not added to
          std::vector<int32_t> scratch(4 * h + 1);
          fn(T, rows, nnz, C.data(), h, idx.data(), g2.data(), out, scratch.data());
          results.push_back({"avx512", g2});
        }
        for (const auto& [name, m] : results)
          for (int64_t i = 0; i < rows * out; ++i)
            ASSERT_NEAR(m.data()[i], want[i], 1e-4 * (1 + std::abs(want[i])))
                << name << " cin " << sh.cin << " rows " << rows << " every " << every << " at " << i;
      }
  }
}

TEST(SignSplit, OnlyWhereItApplies) {
  const int64_t d = 12;
  Matrix A = RandomMatrix(9, d, 111), Z = RandomMatrix(4, d, 112);
  // tanh after the first layer and bfloat16 GEMMs keep the dense product; a transposed
  // convolution after relu takes the conv split.
  Encoded tanh = Encode(LoadMap(MlpMapBytes(d, 40, 20, 113)), A, Z, {});
  EXPECT_NE(tanh.plan.find("native"), std::string::npos) << tanh.plan;
  EXPECT_EQ(tanh.plan.find("sign split"), std::string::npos) << tanh.plan;
  Encoded conv = Encode(LoadMap(ConvDecoderBytes(d, 8, 114)), A, Z, {});
  EXPECT_NE(conv.plan.find("relu sign split conv"), std::string::npos) << conv.plan;
  EncoderOptions o;
  o.precision = EncoderPrecision::kBFloat16;
  Encoded b16 = Encode(LoadMap(LinearMlpBytes(d, 48, 30, 115)), A, Z, o);
  if (b16.plan.find("bf16 GEMM") != std::string::npos) EXPECT_EQ(b16.plan.find("sign split"), std::string::npos);
}

}  // namespace
}  // namespace relgeo
