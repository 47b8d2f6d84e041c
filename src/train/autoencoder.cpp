// Autoencoder training (LibTorch C++). The encoder and decoder are TorchScript
// modules built with torch::jit::Module::define and trained directly through the
// TorchScript interpreter with autograd, so the file that is saved is exactly the
// function that was trained (no second definition to keep in sync).
#include "relgeo/autoencoder.h"

#include <torch/torch.h>
#include <torch/script.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include "encoder/torch_internal.h"
#include "relgeo/file_io.h"
#include "util/blas_threads.h"

namespace relgeo {

const char* AeArchName(AeArch a) { return a == AeArch::kConv ? "conv" : "mlp"; }

Result<AeArch> ParseAeArch(const std::string& name) {
  if (name == "conv") return AeArch::kConv;
  if (name == "mlp") return AeArch::kMlp;
  return Status::InvalidArgument("unknown architecture '" + name + "' (expected conv or mlp)");
}

namespace {

constexpr int64_t kSide = 28, kPixels = kSide * kSide;

// PyTorch's default initialisation of Linear / Conv weights and biases:
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)).
torch::Tensor Uniform(std::vector<int64_t> shape, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return (torch::rand(shape, torch::kFloat32) * 2.0 - 1.0) * bound;
}

void AddLinear(torch::jit::Module& m, const std::string& name, int64_t in, int64_t out) {
  m.register_parameter(name + "_w", Uniform({out, in}, in), false);
  m.register_parameter(name + "_b", Uniform({out}, in), false);
}
void AddConv(torch::jit::Module& m, const std::string& name, int64_t in, int64_t out) {
  m.register_parameter(name + "_w", Uniform({out, in, 3, 3}, in * 9), false);
  m.register_parameter(name + "_b", Uniform({out}, in * 9), false);
}
// ConvTranspose2d weights are (in, out, k, k); PyTorch's fan_in is computed from dim 1.
void AddConvT(torch::jit::Module& m, const std::string& name, int64_t in, int64_t out) {
  m.register_parameter(name + "_w", Uniform({in, out, 3, 3}, out * 9), false);
  m.register_parameter(name + "_b", Uniform({out}, out * 9), false);
}

struct Modules {
  torch::jit::Module encoder{"RelgeoEncoder"};
  torch::jit::Module decoder{"RelgeoDecoder"};
};

Modules Build(AeArch arch, int64_t d) {
  Modules m;
  m.encoder.register_attribute("input_dim", c10::IntType::get(), kPixels);
  if (arch == AeArch::kConv) {
    AddConv(m.encoder, "c1", 1, 32);
    AddConv(m.encoder, "c2", 32, 64);
    AddLinear(m.encoder, "fc", 64 * 7 * 7, d);
    m.encoder.define(
        "def forward(self, x):\n"
        "  h = x.reshape([-1, 1, 28, 28])\n"
        "  h = torch.relu(torch.conv2d(h, self.c1_w, self.c1_b, [2, 2], [1, 1]))\n"
        "  h = torch.relu(torch.conv2d(h, self.c2_w, self.c2_b, [2, 2], [1, 1]))\n"
        "  h = h.reshape([h.size(0), 3136])\n"
        "  return torch.addmm(self.fc_b, h, self.fc_w.t())\n");
    AddLinear(m.decoder, "fc", d, 64 * 7 * 7);  // first: the latent dimension is inferred from it
    AddConvT(m.decoder, "t1", 64, 32);
    AddConvT(m.decoder, "t2", 32, 1);
    m.decoder.define(
        "def forward(self, z):\n"
        "  h = torch.relu(torch.addmm(self.fc_b, z, self.fc_w.t()))\n"
        "  h = h.reshape([h.size(0), 64, 7, 7])\n"
        "  h = torch.relu(torch.conv_transpose2d(h, self.t1_w, self.t1_b, [2, 2], [1, 1], [1, 1]))\n"
        "  return torch.sigmoid(torch.conv_transpose2d(h, self.t2_w, self.t2_b, [2, 2], [1, 1], [1, 1]))\n");
  } else {
    AddLinear(m.encoder, "l1", kPixels, 512);
    AddLinear(m.encoder, "l2", 512, 256);
    AddLinear(m.encoder, "l3", 256, d);
    m.encoder.define(
        "def forward(self, x):\n"
        "  h = x.reshape([x.size(0), 784])\n"
        "  h = torch.relu(torch.addmm(self.l1_b, h, self.l1_w.t()))\n"
        "  h = torch.relu(torch.addmm(self.l2_b, h, self.l2_w.t()))\n"
        "  return torch.addmm(self.l3_b, h, self.l3_w.t())\n");
    AddLinear(m.decoder, "l1", d, 256);
    AddLinear(m.decoder, "l2", 256, 512);
    AddLinear(m.decoder, "l3", 512, kPixels);
    m.decoder.define(
        "def forward(self, z):\n"
        "  h = torch.relu(torch.addmm(self.l1_b, z, self.l1_w.t()))\n"
        "  h = torch.relu(torch.addmm(self.l2_b, h, self.l2_w.t()))\n"
        "  h = torch.sigmoid(torch.addmm(self.l3_b, h, self.l3_w.t()))\n"
        "  return h.reshape([h.size(0), 1, 28, 28])\n");
  }
  m.decoder.register_attribute("input_dim", c10::IntType::get(), d);
  return m;
}

std::string Save(torch::jit::Module& m) {
  std::ostringstream out;
  m.save(out);
  return out.str();
}

torch::Tensor Forward(torch::jit::Module& m, const torch::Tensor& x) { return m.forward({x}).toTensor(); }

double MseOn(torch::jit::Module& enc, torch::jit::Module& dec, const torch::Tensor& x, int64_t batch) {
  c10::InferenceMode guard;
  double sum = 0;
  for (int64_t b = 0; b < x.size(0); b += batch) {
    torch::Tensor xb = x.narrow(0, b, std::min(batch, x.size(0) - b));
    torch::Tensor y = Forward(dec, Forward(enc, xb)).reshape({xb.size(0), -1});
    sum += (y - xb).square().sum().item<double>();
  }
  return sum / static_cast<double>(x.numel());
}

Status CheckImages(MatrixView m, const char* what, bool allow_empty) {
  if (m.rows() == 0 && allow_empty) return Status::OK();
  RELGEO_RETURN_IF_ERROR(CheckLatents(m, kPixels, what));
  return Status::OK();
}

}  // namespace

Result<AeTrainResult> TrainAutoencoder(MatrixView train_images, MatrixView eval_images, const AeTrainOptions& o) {
  RELGEO_RETURN_IF_ERROR(CheckImages(train_images, "training images (n x 784)", false));
  RELGEO_RETURN_IF_ERROR(CheckImages(eval_images, "evaluation images (n x 784)", true));
  if (o.latent_dim < 1 || o.latent_dim > kMaxLatentDim)
    return Status::InvalidArgument("latent dimension must be in [1, " + std::to_string(kMaxLatentDim) + "], got " +
                                   std::to_string(o.latent_dim));
  if (o.epochs < 1) return Status::InvalidArgument("epochs must be >= 1");
  if (o.batch_size < 1) return Status::InvalidArgument("batch size must be >= 1");
  if (!(o.learning_rate > 0)) return Status::InvalidArgument("learning rate must be positive");

  AeTrainResult result;
  internal::ScopedBlasThreads one_blas_thread(1);  // util/blas_threads.h: 3x faster here
  Status st = GuardTorch("training the autoencoder", [&] {
    const auto start = std::chrono::steady_clock::now();
    torch::manual_seed(o.seed);
    Modules m = Build(o.arch, o.latent_dim);
    std::vector<torch::Tensor> params;
    for (const auto& p : m.encoder.parameters()) params.push_back(p);
    for (const auto& p : m.decoder.parameters()) params.push_back(p);
    for (auto& p : params) p.set_requires_grad(true);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(o.learning_rate));

    const int64_t n = train_images.rows();
    torch::Tensor x = TensorView(train_images);
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ULL);
    const int64_t batches = (n + o.batch_size - 1) / o.batch_size;
    double first_sum = 0;
    int first_count = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
      for (int64_t i = n - 1; i > 0; --i)  // seeded Fisher-Yates: the data order
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng() % static_cast<uint64_t>(i + 1))]);
      torch::Tensor perm = torch::from_blob(order.data(), {n}, torch::kInt64);
      double sum = 0;
      for (int64_t b = 0; b < batches; ++b) {
        const int64_t b0 = b * o.batch_size, bn = std::min(o.batch_size, n - b0);
        torch::Tensor xb = x.index_select(0, perm.narrow(0, b0, bn));
        torch::Tensor y = Forward(m.decoder, Forward(m.encoder, xb)).reshape({bn, kPixels});
        torch::Tensor loss = torch::mse_loss(y, xb);
        opt.zero_grad();
        loss.backward();
        opt.step();
        const double l = loss.item<double>();
        sum += l;
        if (epoch == 1 && first_count < 10) {
          first_sum += l;
          ++first_count;
        }
        if (o.on_progress && ((b + 1) % 20 == 0 || b + 1 == batches)) {
          AeProgress p;
          p.epoch = epoch;
          p.epochs = o.epochs;
          p.batch = b + 1;
          p.batches = batches;
          p.loss = sum / static_cast<double>(b + 1);
          p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          o.on_progress(p);
        }
      }
      result.epoch_loss.push_back(sum / static_cast<double>(batches));
    }
    result.first_batches_loss = first_count > 0 ? first_sum / first_count : 0;
    for (auto& p : params) p.set_requires_grad(false);
    m.encoder.eval();
    m.decoder.eval();
    result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (eval_images.rows() > 0) result.eval_mse = MseOn(m.encoder, m.decoder, TensorView(eval_images), 1000);
    result.encoder_bytes = Save(m.encoder);
    result.decoder_bytes = Save(m.decoder);
  });
  RELGEO_RETURN_IF_ERROR(st);
  return result;
}

Status SaveAutoencoder(const AeTrainResult& result, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  for (const auto& [name, bytes] : {std::pair<std::string, const std::string*>{"encoder.pt", &result.encoder_bytes},
                                    {"decoder.pt", &result.decoder_bytes}}) {
    RELGEO_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name, {*bytes}));
  }
  return Status::OK();
}

namespace {
Result<torch::jit::Module> LoadModule(const std::string& path) {
  if (!std::filesystem::exists(path)) return Status::NotFound("TorchScript file " + path + " does not exist");
  torch::jit::Module m;
  Status st = GuardTorch("loading " + path, [&] {
    m = torch::jit::load(path, torch::kCPU);
    m.eval();
  });
  RELGEO_RETURN_IF_ERROR(st);
  return m;
}
}  // namespace

Result<Matrix> EncodeImages(const std::string& encoder_path, MatrixView images, int64_t batch_size) {
  RELGEO_RETURN_IF_ERROR(CheckImages(images, "images (n x 784)", false));
  RELGEO_ASSIGN_OR_RETURN(torch::jit::Module enc, LoadModule(encoder_path));
  Matrix out;
  Status st = GuardTorch("encoding images with " + encoder_path, [&] {
    c10::InferenceMode guard;
    torch::Tensor x = TensorView(images);
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < x.size(0); b += std::max<int64_t>(1, batch_size)) {
      torch::Tensor z = Forward(enc, x.narrow(0, b, std::min(std::max<int64_t>(1, batch_size), x.size(0) - b)));
      if (z.dim() != 2 || z.size(0) != std::min(std::max<int64_t>(1, batch_size), x.size(0) - b))
        throw std::runtime_error("the encoder must return an (n x d) tensor");
      parts.push_back(z.to(torch::kFloat32));
    }
    out = ToMatrix(torch::cat(parts));
  });
  RELGEO_RETURN_IF_ERROR(st);
  return out;
}

Result<double> ReconstructionMse(const std::string& encoder_path, const std::string& decoder_path, MatrixView images) {
  RELGEO_RETURN_IF_ERROR(CheckImages(images, "images (n x 784)", false));
  RELGEO_ASSIGN_OR_RETURN(torch::jit::Module enc, LoadModule(encoder_path));
  RELGEO_ASSIGN_OR_RETURN(torch::jit::Module dec, LoadModule(decoder_path));
  double mse = 0;
  Status st = GuardTorch("reconstructing", [&] { mse = MseOn(enc, dec, TensorView(images), 1000); });
  RELGEO_RETURN_IF_ERROR(st);
  return mse;
}

}  // namespace relgeo
