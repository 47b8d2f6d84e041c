// The relative geodesic encoder (DESIGN.md §1): for every (query z, anchor a)
// pair, walk the straight line z -> a in N steps through the metric map f and
// accumulate the output-space distances of consecutive points.
//
// Every output distance relgeo supports is a monotone function of a Euclidean
// distance after a per-point transform, which lets one loop serve all three:
//   euclidean  y -> y                       delta = |u - v|
//   sphere     y -> y / |y|                 delta = 2 asin(min(1, |u - v| / 2))
//   fisher     y -> sqrt(softmax(y))        delta = 4 asin(min(1, |u - v| / 2))
// The transform of f(z) and of f(a) is computed once and reused by every pair.
#include "relgeo/relative_encoder.h"

#include <algorithm>
#include <cmath>

#include "torch_internal.h"

namespace relgeo {

const char* PathModeName(PathMode m) { return m == PathMode::kLength ? "length" : "energy"; }

Result<PathMode> ParsePathMode(const std::string& name) {
  if (name == "length") return PathMode::kLength;
  if (name == "energy") return PathMode::kEnergy;
  return Status::InvalidArgument("unknown path mode '" + name + "' (expected length or energy)");
}

namespace {

torch::Tensor TransformOutput(const torch::Tensor& y, OutputDistance d) {
  switch (d) {
    case OutputDistance::kEuclidean: return y;
    case OutputDistance::kSphere: return y / y.norm(2, -1, /*keepdim=*/true).clamp_min(1e-30);
    case OutputDistance::kFisher: return torch::exp(0.5 * torch::log_softmax(y, -1));
  }
  return y;
}

// delta from the Euclidean distance of transformed points (see the file comment).
torch::Tensor DistanceFromChord(torch::Tensor chord, OutputDistance d) {
  switch (d) {
    case OutputDistance::kEuclidean: return chord;
    case OutputDistance::kSphere: return 2.0 * torch::asin((chord * 0.5).clamp_max(1.0));
    case OutputDistance::kFisher: return 4.0 * torch::asin((chord * 0.5).clamp_max(1.0));
  }
  return chord;
}

}  // namespace

struct RelativeEncoder::Impl {
  std::shared_ptr<const MetricMap> map;
  EncoderOptions options;
  Matrix anchors;
  torch::Tensor anchor_latents;  // K x d on the map's device
  torch::Tensor anchor_outputs;  // K x m, transformed
  int64_t max_pairs = 1;         // pairs per chunk, from the memory budget

  const MetricMap::Impl& m() const { return map->impl(); }

  // Applies f and the distance transform, in chunks of at most `rows` rows.
  Result<torch::Tensor> TransformedOutputs(const torch::Tensor& x, int64_t rows) const {
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < x.size(0); b += rows) {
      RELGEO_ASSIGN_OR_RETURN(torch::Tensor y, m().Forward(x.narrow(0, b, std::min(rows, x.size(0) - b))));
      parts.push_back(TransformOutput(y, m().distance));
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts);
  }

  // Representations of the queries `z` (q x d) against anchors [a0, a0 + ka): q x ka.
  Result<torch::Tensor> EncodeBlock(const torch::Tensor& z, const torch::Tensor& fz, int64_t a0, int64_t ka) const {
    const int64_t q = z.size(0), d = z.size(1);
    const int N = options.steps;
    torch::Tensor a = anchor_latents.narrow(0, a0, ka);
    torch::Tensor fa = anchor_outputs.narrow(0, a0, ka).unsqueeze(0);  // 1 x ka x m
    torch::Tensor dir = a.unsqueeze(0) - z.unsqueeze(1);               // q x ka x d
    torch::Tensor prev = fz.unsqueeze(1);                              // q x 1 x m (broadcast)
    torch::Tensor acc = torch::zeros({q, ka}, z.options());
    for (int j = 1; j <= N; ++j) {
      torch::Tensor cur;
      if (j == N) {
        cur = fa;
      } else {
        torch::Tensor path = (z.unsqueeze(1) + dir * (static_cast<double>(j) / N)).reshape({q * ka, d});
        RELGEO_ASSIGN_OR_RETURN(torch::Tensor y, m().Forward(path));
        cur = TransformOutput(y, m().distance).view({q, ka, -1});
      }
      torch::Tensor delta = DistanceFromChord((cur - prev).norm(2, -1), m().distance);
      if (options.mode == PathMode::kLength) acc.add_(delta);
      else acc.add_(delta.square());
      prev = cur;
    }
    if (options.mode == PathMode::kEnergy) acc.mul_(0.5 * N);
    return acc;
  }
};

RelativeEncoder::RelativeEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RelativeEncoder::~RelativeEncoder() = default;
int64_t RelativeEncoder::num_anchors() const { return impl_->anchors.rows(); }
int64_t RelativeEncoder::latent_dim() const { return impl_->anchors.cols(); }
const EncoderOptions& RelativeEncoder::options() const { return impl_->options; }
const MetricMap& RelativeEncoder::map() const { return *impl_->map; }

Result<std::unique_ptr<RelativeEncoder>> RelativeEncoder::Create(std::shared_ptr<const MetricMap> map,
                                                                 MatrixView anchors, const EncoderOptions& options) {
  if (!map) return Status::InvalidArgument("metric map is null");
  if (options.steps < 1) return Status::InvalidArgument("steps must be >= 1, got " + std::to_string(options.steps));
  if (options.memory_budget_bytes <= 0) return Status::InvalidArgument("memory budget must be positive");
  if (anchors.rows() == 0) return Status::InvalidArgument("anchor set is empty (K = 0)");
  RELGEO_RETURN_IF_ERROR(CheckLatents(anchors, map->input_dim(), "anchor latents"));

  auto impl = std::make_unique<Impl>();
  impl->map = std::move(map);
  impl->options = options;
  impl->anchors = Matrix::CopyOf(anchors);
  const int64_t d = impl->anchors.cols(), mdim = impl->map->output_dim();
  // Bytes held per (query, anchor) pair inside one step: the direction and the path
  // point (2d), the previous, current and difference outputs (3m), and the map's
  // own activations, estimated as 4m (a conv decoder's widest layer is ~8x its output
  // per channel pair; 4m is a middle estimate that the budget documentation states).
  const int64_t bytes_per_pair = 4 * (2 * d + 7 * mdim);
  impl->max_pairs = std::max<int64_t>(1, options.memory_budget_bytes / bytes_per_pair);
  impl->anchor_latents = TensorView(impl->anchors).to(impl->m().device).clone();
  auto fa = impl->TransformedOutputs(impl->anchor_latents, impl->max_pairs);
  if (!fa.ok()) return fa.status().WithContext("encoding the anchors");
  impl->anchor_outputs = *fa;
  return std::unique_ptr<RelativeEncoder>(new RelativeEncoder(std::move(impl)));
}

Result<Matrix> RelativeEncoder::Encode(MatrixView latents) const {
  const Impl& s = *impl_;
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, s.anchors.cols(), "latents"));
  const int64_t n = latents.rows(), K = s.anchors.rows();
  // Chunk: as many whole query rows against all anchors as fit; else one query
  // against as many anchors as fit.
  const int64_t q_block = std::max<int64_t>(1, std::min(n, s.max_pairs / K));
  const int64_t a_block = std::min(K, std::max<int64_t>(1, s.max_pairs / q_block));
  Matrix out(n, K);
  Status st = GuardTorch("encoding", [&] {
    c10::InferenceMode guard;
    torch::Tensor z_all = TensorView(latents);
    for (int64_t q0 = 0; q0 < n; q0 += q_block) {
      const int64_t q = std::min(q_block, n - q0);
      torch::Tensor z = z_all.narrow(0, q0, q).to(s.m().device);
      auto fz = s.TransformedOutputs(z, s.max_pairs);
      if (!fz.ok()) throw std::runtime_error(fz.status().message());
      for (int64_t a0 = 0; a0 < K; a0 += a_block) {
        const int64_t ka = std::min(a_block, K - a0);
        auto block = s.EncodeBlock(z, *fz, a0, ka);
        if (!block.ok()) throw std::runtime_error(block.status().message());
        torch::Tensor r = block->to(torch::kCPU).contiguous();
        for (int64_t i = 0; i < q; ++i)
          std::memcpy(out.row(q0 + i) + a0, r.data_ptr<float>() + i * ka, sizeof(float) * ka);
      }
    }
  });
  RELGEO_RETURN_IF_ERROR(st);
  for (int64_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out.data()[i]))
      return Status::InvalidArgument("the metric map produced a non-finite output for query row " +
                                     std::to_string(i / K) + "; check the map on these latents");
  }
  return out;
}

}  // namespace relgeo
