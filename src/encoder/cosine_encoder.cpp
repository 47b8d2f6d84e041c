#include <Eigen/Dense>
#include <cmath>

#include "relgeo/relative_encoder.h"

namespace relgeo {
namespace {
using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows scaled to unit norm; zero rows stay zero (their cosine is defined as 0).
RowMajor NormalisedRows(MatrixView m) {
  RowMajor x = Eigen::Map<const RowMajor>(m.data(), m.rows(), m.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float n = x.row(i).norm();
    if (n > 0) x.row(i) /= n;
  }
  return x;
}
}  // namespace

Result<CosineEncoder> CosineEncoder::Create(MatrixView anchors) {
  if (anchors.rows() == 0) return Status::InvalidArgument("anchor set is empty (K = 0)");
  if (anchors.rows() > kMaxAnchors)
    return Status::InvalidArgument("K = " + std::to_string(anchors.rows()) + " anchors; at most " +
                                   std::to_string(kMaxAnchors) + " are supported");
  RELGEO_RETURN_IF_ERROR(CheckLatents(anchors, anchors.cols(), "anchor latents"));
  CosineEncoder e;
  RowMajor a = NormalisedRows(anchors);
  e.anchors_ = Matrix(a.rows(), a.cols(), std::vector<float>(a.data(), a.data() + a.size()));
  return e;
}

Result<Matrix> CosineEncoder::Encode(MatrixView latents) const {
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, anchors_.cols(), "latents"));
  RowMajor z = NormalisedRows(latents);
  Matrix out(latents.rows(), anchors_.rows());
  Eigen::Map<RowMajor>(out.data(), out.rows(), out.cols()).noalias() =
      z * Eigen::Map<const RowMajor>(anchors_.data(), anchors_.rows(), anchors_.cols()).transpose();
  return out;
}

}  // namespace relgeo
