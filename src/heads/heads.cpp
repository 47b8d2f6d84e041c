// Classifier and DIET metric heads trained on frozen latents (include/relgeo/heads.h).
#include "relgeo/heads.h"

#include <torch/csrc/autograd/autograd.h>

#include <chrono>
#include <sstream>

#include "heads/nn_util.h"
#include "encoder/torch_internal.h"
#include "util/blas_threads.h"

namespace relgeo {
namespace {

struct Head {
  int64_t d = 0;
  torch::Tensor ln_w, ln_b;
  nn::LinearParams l1, l2;
  Head(int64_t in, int64_t hidden, int64_t out, bool out_bias, std::mt19937_64& rng)
      : d(in),
        ln_w(torch::ones({in}).requires_grad_(true)),
        ln_b(torch::zeros({in}).requires_grad_(true)),
        l1(in, hidden, true, rng),
        l2(hidden, out, out_bias, rng) {}
  torch::Tensor Hidden(const torch::Tensor& x) const {
    return torch::tanh(l1(torch::layer_norm(x, {d}, ln_w, ln_b, 1e-5, false)));
  }
  torch::Tensor Logits(const torch::Tensor& x) const { return l2(Hidden(x)); }
  std::vector<torch::Tensor> Params() const {
    std::vector<torch::Tensor> p{ln_w, ln_b, l1.w, l1.b, l2.w};
    if (l2.b.defined()) p.push_back(l2.b);
    return p;
  }
};

// The metric map as TorchScript: LayerNorm -> Linear + Tanh [-> Linear].
std::string ExportMap(const Head& h, bool logits) {
  torch::jit::Module m(logits ? "ClassifierHead" : "DietHead");
  m.register_attribute("input_dim", c10::IntType::get(), h.d);
  auto reg = [&](const char* name, const torch::Tensor& t) { m.register_parameter(name, t.detach().clone(), false); };
  reg("ln_w", h.ln_w);
  reg("ln_b", h.ln_b);
  reg("W1", h.l1.w);
  reg("b1", h.l1.b);
  std::string body =
      "def forward(self, x):\n"
      "  h = torch.layer_norm(x, [self.input_dim], self.ln_w, self.ln_b, 1e-05, False)\n"
      "  h = torch.tanh(torch.matmul(h, self.W1.t()) + self.b1)\n";
  if (logits) {
    reg("W2", h.l2.w);
    reg("b2", h.l2.b);
    body += "  return torch.matmul(h, self.W2.t()) + self.b2\n";
  } else {
    body += "  return h\n";
  }
  m.define(body);
  m.eval();
  std::ostringstream out;
  m.save(out);
  return out.str();
}

// Mean cross-entropy and accuracy on the whole (clean) set, in batches.
void Evaluate(const Head& h, const torch::Tensor& x, const torch::Tensor& y, double* loss, double* acc) {
  torch::NoGradGuard ng;
  double l = 0;
  int64_t correct = 0;
  const int64_t n = x.size(0);
  for (int64_t b = 0; b < n; b += 4096) {
    const int64_t c = std::min<int64_t>(4096, n - b);
    torch::Tensor logits = h.Logits(x.narrow(0, b, c));
    torch::Tensor yy = y.narrow(0, b, c);
    l += torch::cross_entropy_loss(logits, yy, {}, at::Reduction::Sum).item<double>();
    correct += logits.argmax(1).eq(yy).sum().item<int64_t>();
  }
  *loss = l / n;
  *acc = static_cast<double>(correct) / n;
}

Result<HeadTrainResult> Train(MatrixView latents, const std::vector<int64_t>& labels, int64_t classes, bool diet,
                              const HeadTrainOptions& o) {
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, 0, "head training latents"));
  if (o.hidden < 1 || o.epochs < 0 || o.batch_size < 1 || !(o.learning_rate > 0) || !(o.noise >= 0))
    return Status::InvalidArgument("head options: hidden, batch size and learning rate must be positive, epochs and noise >= 0");
  const auto t0 = std::chrono::steady_clock::now();
  HeadTrainResult r;
  r.num_classes = classes;
  Status st = GuardTorch("head training", [&] {
    torch::AutoGradMode grad_on(true);
    internal::ScopedSerialTorchOps serial_ops;  // the GEMMs keep the BLAS's threads
    std::mt19937_64 rng(o.seed);
    const int64_t n = latents.rows(), d = latents.cols();
    torch::Tensor x = nn::Tensor(latents), y = nn::Labels(labels);
    torch::Tensor noise_scale = x.std(0, /*unbiased=*/false) * o.noise;  // per dimension
    Head h(d, o.hidden, classes, /*out_bias=*/!diet, rng);
    Evaluate(h, x, y, &r.initial_loss, &r.train_accuracy);
    nn::Adam opt(h.Params(), o.learning_rate);
    for (int e = 0; e < o.epochs; ++e) {
      auto perm = nn::Permutation(n, rng);
      torch::Tensor idx = nn::Labels(perm);
      double sum = 0;
      int64_t batches = 0;
      for (int64_t b = 0; b < n; b += o.batch_size) {
        torch::Tensor bi = idx.narrow(0, b, std::min(o.batch_size, n - b));
        torch::Tensor xb = x.index_select(0, bi), yb = y.index_select(0, bi);
        if (o.noise > 0) xb = xb + nn::Normal({xb.size(0), d}, rng) * noise_scale;
        torch::Tensor loss = torch::cross_entropy_loss(h.Logits(xb), yb);
        opt.Step(loss);
        sum += loss.item<double>();
        ++batches;
      }
      r.epoch_loss.push_back(sum / std::max<int64_t>(1, batches));
      if (o.on_epoch) o.on_epoch(e + 1, o.epochs, r.epoch_loss.back());
    }
    Evaluate(h, x, y, &r.final_loss, &r.train_accuracy);
    r.map_bytes = ExportMap(h, /*logits=*/!diet);
  });
  RELGEO_RETURN_IF_ERROR(st);
  if (!std::isfinite(r.final_loss)) return Status::Internal("head training diverged (non-finite loss); lower the learning rate");
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

Result<HeadTrainResult> TrainClassifierHead(MatrixView latents, const std::vector<int64_t>& labels,
                                            const HeadTrainOptions& options, int64_t num_classes) {
  if (static_cast<int64_t>(labels.size()) != latents.rows())
    return Status::InvalidArgument("labels: " + std::to_string(labels.size()) + " values for " +
                                   std::to_string(latents.rows()) + " latents");
  int64_t mx = -1;
  for (int64_t l : labels) {
    if (l < 0) return Status::InvalidArgument("labels must be >= 0");
    mx = std::max(mx, l);
  }
  if (num_classes <= 0) num_classes = mx + 1;
  if (mx >= num_classes)
    return Status::InvalidArgument("label " + std::to_string(mx) + " >= number of classes " + std::to_string(num_classes));
  if (num_classes < 2) return Status::InvalidArgument("a classifier head needs at least 2 classes");
  return Train(latents, labels, num_classes, /*diet=*/false, options);
}

Result<HeadTrainResult> TrainDietHead(MatrixView points, const HeadTrainOptions& options) {
  if (points.rows() < 2) return Status::InvalidArgument("a DIET head needs at least 2 points");
  std::vector<int64_t> labels(static_cast<size_t>(points.rows()));
  std::iota(labels.begin(), labels.end(), 0);
  return Train(points, labels, points.rows(), /*diet=*/true, options);
}

Result<double> ClassifierAccuracy(const std::string& map_bytes, MatrixView latents, const std::vector<int64_t>& labels) {
  if (static_cast<int64_t>(labels.size()) != latents.rows())
    return Status::InvalidArgument("labels and latents differ in length");
  MetricMapOptions mo;
  mo.input_dim = latents.cols();
  RELGEO_ASSIGN_OR_RETURN(auto map, MetricMap::FromBytes(map_bytes, mo));
  RELGEO_ASSIGN_OR_RETURN(Matrix logits, map->Forward(latents));
  int64_t correct = 0;
  for (int64_t i = 0; i < logits.rows(); ++i) {
    const float* r = logits.row(i);
    correct += std::max_element(r, r + logits.cols()) - r == labels[i];
  }
  return static_cast<double>(correct) / std::max<int64_t>(1, logits.rows());
}

}  // namespace relgeo
