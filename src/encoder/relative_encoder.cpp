// The relative geodesic encoder (docs/design.md §1.4, §4): for every (query z, anchor
// a) pair, walk the straight line z -> a in N steps through the metric map f and
// accumulate the output-space distances of consecutive points.
//
// The public API only: Create validates the options and plans (encoder_plan.h: which
// fast paths apply, batch sizes, the anchors' end points); Encode walks the lines
// (line_walker.h). No LibTorch here.
#include "relgeo/relative_encoder.h"

#include <cmath>
#include <string>

#include "encoder/encoder_plan.h"
#include "encoder/line_walker.h"

namespace relgeo {

struct RelativeEncoder::Impl {
  std::shared_ptr<const MetricMap> map;
  EncoderOptions options;
  Matrix anchors;
  std::unique_ptr<const internal::EncoderPlan> plan;
};

RelativeEncoder::RelativeEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RelativeEncoder::~RelativeEncoder() = default;
int64_t RelativeEncoder::num_anchors() const { return impl_->anchors.rows(); }
int64_t RelativeEncoder::latent_dim() const { return impl_->anchors.cols(); }
const EncoderOptions& RelativeEncoder::options() const { return impl_->options; }
const MetricMap& RelativeEncoder::map() const { return *impl_->map; }
bool RelativeEncoder::affine_fast_path() const { return impl_->plan->affine(); }
int64_t RelativeEncoder::rows_per_batch() const { return impl_->plan->rows; }
std::string RelativeEncoder::execution_plan() const { return internal::DescribePlan(*impl_->plan); }

Result<std::unique_ptr<RelativeEncoder>> RelativeEncoder::Create(std::shared_ptr<const MetricMap> map,
                                                                 MatrixView anchors, const EncoderOptions& options) {
  if (!map) return Status::InvalidArgument("metric map is null");
  if (options.steps < 1 || options.steps > kMaxSteps)
    return Status::InvalidArgument("steps must be in [1, " + std::to_string(kMaxSteps) + "], got " +
                                   std::to_string(options.steps));
  if (options.memory_budget_bytes <= 0)
    return Status::InvalidArgument("memory budget must be positive, got " + std::to_string(options.memory_budget_bytes) +
                                   " bytes");
  if (options.rows_per_batch < 0) return Status::InvalidArgument("rows_per_batch must be >= 0");
  if (anchors.rows() == 0) return Status::InvalidArgument("anchor set is empty (K = 0)");
  if (anchors.rows() > kMaxAnchors)
    return Status::InvalidArgument("K = " + std::to_string(anchors.rows()) + " anchors; at most " +
                                   std::to_string(kMaxAnchors) + " are supported");
  RELGEO_RETURN_IF_ERROR(CheckLatents(anchors, map->input_dim(), "anchor latents"));

  auto impl = std::make_unique<Impl>();
  impl->map = std::move(map);
  impl->options = options;
  impl->anchors = Matrix::CopyOf(anchors);
  RELGEO_ASSIGN_OR_RETURN(impl->plan, internal::PlanEncoder(impl->map, impl->anchors, options));
  return std::unique_ptr<RelativeEncoder>(new RelativeEncoder(std::move(impl)));
}

Result<Matrix> RelativeEncoder::Encode(MatrixView latents) const {
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, impl_->anchors.cols(), "latents"));
  const int64_t K = impl_->anchors.rows();
  Matrix out(latents.rows(), K);
  RELGEO_RETURN_IF_ERROR(internal::WalkLines(*impl_->plan, latents, &out));
  for (int64_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out.data()[i]))
      return Status::InvalidArgument("the metric map produced a non-finite output for query row " +
                                     std::to_string(i / K) + "; check the map on these latents");
  }
  return out;
}

}  // namespace relgeo
