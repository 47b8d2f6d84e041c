// Classification stitching (include/relgeo/stitching.h): heads trained on model
// A's relative representations, evaluated on model B's.
#include <torch/csrc/autograd/autograd.h>

#include "heads/nn_util.h"
#include "relgeo/stitching.h"
#include "encoder/torch_internal.h"
#include "util/blas_threads.h"

namespace relgeo {
namespace {

// LayerNorm(K) -> Linear(K,K) + Tanh -> InstanceNorm (each feature standardised
// over the batch, no affine) -> Linear(K, classes).
struct StitchHead {
  int64_t k;
  torch::Tensor ln_w, ln_b;
  nn::LinearParams l1, l2;
  StitchHead(int64_t in, int64_t classes, std::mt19937_64& rng)
      : k(in),
        ln_w(torch::ones({in}).requires_grad_(true)),
        ln_b(torch::zeros({in}).requires_grad_(true)),
        l1(in, in, true, rng),
        l2(in, classes, true, rng) {}
  torch::Tensor operator()(const torch::Tensor& x) const {
    torch::Tensor h = torch::tanh(l1(torch::layer_norm(x, {k}, ln_w, ln_b, 1e-5, false)));
    // InstanceNorm1d over the transposed (K x batch) activations, as in the
    // reference code; a batch of one row has zero variance, eps keeps it finite.
    torch::Tensor mean = h.mean(0, true), var = h.var(0, /*unbiased=*/false, true);
    return l2((h - mean) / (var + 1e-5).sqrt());
  }
  std::vector<torch::Tensor> Params() const { return {ln_w, ln_b, l1.w, l1.b, l2.w, l2.b}; }
};

double Accuracy(const StitchHead& h, const torch::Tensor& x, const torch::Tensor& y, int64_t batch) {
  torch::NoGradGuard ng;
  int64_t correct = 0;
  for (int64_t b = 0; b < x.size(0); b += batch) {
    const int64_t c = std::min(batch, x.size(0) - b);
    correct += h(x.narrow(0, b, c)).argmax(1).eq(y.narrow(0, b, c)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / std::max<int64_t>(1, x.size(0));
}

Status CheckLabels(const std::vector<int64_t>& labels, int64_t rows, const char* what) {
  if (static_cast<int64_t>(labels.size()) != rows)
    return Status::InvalidArgument(std::string(what) + ": " + std::to_string(labels.size()) + " labels for " +
                                   std::to_string(rows) + " rows");
  for (int64_t l : labels)
    if (l < 0) return Status::InvalidArgument(std::string(what) + ": labels must be >= 0");
  return Status::OK();
}

}  // namespace

Result<StitchClassifyResult> StitchClassifier(MatrixView train_a, const std::vector<int64_t>& train_labels,
                                              MatrixView test_b, const std::vector<int64_t>& test_labels,
                                              MatrixView test_a, const StitchHeadOptions& o) {
  RELGEO_RETURN_IF_ERROR(CheckLatents(train_a, 0, "model A training representations"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(test_b, train_a.cols(), "model B test representations"));
  RELGEO_RETURN_IF_ERROR(CheckLabels(train_labels, train_a.rows(), "training labels"));
  RELGEO_RETURN_IF_ERROR(CheckLabels(test_labels, test_b.rows(), "test labels"));
  const bool own = !test_a.empty();
  if (own) RELGEO_RETURN_IF_ERROR(CheckLatents(test_a, train_a.cols(), "model A test representations"));
  if (own && test_a.rows() != test_b.rows()) return Status::InvalidArgument("A and B test representations differ in rows");
  if (o.heads < 1 || o.epochs < 0 || o.batch_size < 2 || o.eval_batch_size < 2 || !(o.learning_rate > 0))
    return Status::InvalidArgument("stitch head options: heads >= 1, batch sizes >= 2, learning rate > 0");
  int64_t classes = 0;
  for (int64_t l : train_labels) classes = std::max(classes, l + 1);
  for (int64_t l : test_labels) classes = std::max(classes, l + 1);
  StitchClassifyResult r;
  Status st = GuardTorch("stitching head", [&] {
    torch::AutoGradMode grad_on(true);
    internal::ScopedSerialTorchOps serial_ops;  // the GEMMs keep the BLAS's threads
    torch::Tensor x = nn::Tensor(train_a), y = nn::Labels(train_labels);
    torch::Tensor xb_test = nn::Tensor(test_b), y_test = nn::Labels(test_labels);
    torch::Tensor xa_test = own ? nn::Tensor(test_a) : torch::Tensor();
    const int64_t n = x.size(0);
    for (int h = 0; h < o.heads; ++h) {
      std::mt19937_64 rng(o.seed * 1000003 + h);
      StitchHead head(x.size(1), classes, rng);
      nn::Adam opt(head.Params(), o.learning_rate);
      for (int e = 0; e < o.epochs; ++e) {
        torch::Tensor idx = nn::Labels(nn::Permutation(n, rng));
        double sum = 0;
        int64_t batches = 0;
        for (int64_t b = 0; b + 1 < n; b += o.batch_size) {  // batches of >= 2 rows (the norm needs a batch)
          torch::Tensor bi = idx.narrow(0, b, std::min(o.batch_size, n - b));
          torch::Tensor loss = torch::cross_entropy_loss(head(x.index_select(0, bi)), y.index_select(0, bi));
          opt.Step(loss);
          sum += loss.item<double>();
          ++batches;
        }
        if (o.on_epoch) o.on_epoch(h, e + 1, sum / std::max<int64_t>(1, batches));
      }
      r.stitched_accuracy.push_back(Accuracy(head, xb_test, y_test, o.eval_batch_size));
      if (own) r.own_accuracy.push_back(Accuracy(head, xa_test, y_test, o.eval_batch_size));
    }
  });
  RELGEO_RETURN_IF_ERROR(st);
  double s = 0, s2 = 0;
  for (double a : r.stitched_accuracy) {
    s += a;
    s2 += a * a;
  }
  const double k = static_cast<double>(r.stitched_accuracy.size());
  r.stitched_mean = s / k;
  r.stitched_std = std::sqrt(std::max(0.0, s2 / k - r.stitched_mean * r.stitched_mean));
  for (double a : r.own_accuracy) r.own_mean += a / k;
  return r;
}

}  // namespace relgeo
