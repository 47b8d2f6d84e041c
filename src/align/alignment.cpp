// Alignment baselines fitted on anchors (docs/design.md §1), in double precision with Eigen.
#include "relgeo/alignment.h"

#include <Eigen/Dense>

#include <cmath>

namespace relgeo {
namespace {

using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatD ToEigen(MatrixView m) { return Eigen::Map<const RowMatF>(m.data(), m.rows(), m.cols()).cast<double>(); }

Matrix FromEigen(const RowMatD& e) {
  Matrix m(e.rows(), e.cols());
  Eigen::Map<RowMatF>(m.data(), e.rows(), e.cols()) = e.cast<float>();
  return m;
}

// Anchor statistics of one space for the orthogonal baseline.
void Stats(const RowMatD& a, Standardize s, std::vector<float>* mean, std::vector<float>* scale) {
  const int64_t d = a.cols();
  mean->assign(static_cast<size_t>(d), 0.0f);
  scale->assign(static_cast<size_t>(d), 1.0f);
  if (s == Standardize::kNone) return;
  Eigen::RowVectorXd mu = a.colwise().mean();
  RowMatD c = a.rowwise() - mu;
  for (int64_t j = 0; j < d; ++j) (*mean)[static_cast<size_t>(j)] = static_cast<float>(mu(j));
  if (s == Standardize::kPerDimension) {
    for (int64_t j = 0; j < d; ++j) {
      const double sd = std::sqrt(c.col(j).squaredNorm() / static_cast<double>(a.rows()));
      (*scale)[static_cast<size_t>(j)] = sd > 1e-12 ? static_cast<float>(sd) : 1.0f;
    }
  } else {
    const double rms = std::sqrt(c.squaredNorm() / static_cast<double>(a.rows() * d));
    scale->assign(static_cast<size_t>(d), rms > 1e-12 ? static_cast<float>(rms) : 1.0f);
  }
}

// pad((z - mean) / scale) to `dim` columns.
RowMatD StandardizePad(MatrixView z, const std::vector<float>& mean, const std::vector<float>& scale, int64_t dim) {
  RowMatD out = RowMatD::Zero(z.rows(), dim);
  for (int64_t i = 0; i < z.rows(); ++i)
    for (int64_t j = 0; j < z.cols(); ++j)
      out(i, j) = (static_cast<double>(z(i, j)) - mean[static_cast<size_t>(j)]) / scale[static_cast<size_t>(j)];
  return out;
}

}  // namespace

const char* AlignMethodName(AlignMethod m) {
  switch (m) {
    case AlignMethod::kAbsolute: return "absolute";
    case AlignMethod::kLinear: return "linear";
    case AlignMethod::kOrthogonal: return "orthogonal";
  }
  return "unknown";
}

Result<AlignMethod> ParseAlignMethod(const std::string& name) {
  if (name == "absolute") return AlignMethod::kAbsolute;
  if (name == "linear") return AlignMethod::kLinear;
  if (name == "orthogonal" || name == "procrustes") return AlignMethod::kOrthogonal;
  return Status::InvalidArgument("unknown alignment '" + name + "' (expected absolute, linear or orthogonal)");
}

Result<Alignment> Alignment::Fit(AlignMethod method, MatrixView a1, MatrixView a2, const AlignOptions& o) {
  RELGEO_RETURN_IF_ERROR(CheckLatents(a1, 0, "space-1 anchors"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(a2, 0, "space-2 anchors"));
  if (a1.rows() != a2.rows())
    return Status::InvalidArgument("anchor sets differ in size: " + std::to_string(a1.rows()) + " vs " +
                                   std::to_string(a2.rows()));
  Alignment al;
  al.method_ = method;
  al.d1_ = a1.cols();
  al.d2_ = a2.cols();
  const int64_t K = a1.rows(), d1 = a1.cols();
  if (method == AlignMethod::kAbsolute) {
    if (al.d1_ != al.d2_)
      return Status::InvalidArgument("absolute comparison needs equal latent dimensions, got " +
                                     std::to_string(al.d1_) + " and " + std::to_string(al.d2_));
    return al;
  }
  RowMatD A1 = ToEigen(a1), A2 = ToEigen(a2);
  if (method == AlignMethod::kLinear) {
    double ridge = o.ridge;
    RowMatD W;
    if (ridge < 0) {
      // Plain least squares when the anchors determine W (full column rank), else ridge.
      Eigen::ColPivHouseholderQR<RowMatD> qr(A1);
      if (K > d1 && qr.rank() == d1) {
        W = qr.solve(A2);
        al.m_ = FromEigen(W);
        return al;
      }
      ridge = 1e-3;
    }
    // Ridge in the dual form, well-posed for any K: W = A1^T (A1 A1^T + lambda I)^-1 A2,
    // lambda = ridge * mean squared anchor norm.
    const double lambda = std::max(1e-12, ridge * A1.squaredNorm() / static_cast<double>(K));
    RowMatD G = A1 * A1.transpose();
    G.diagonal().array() += lambda;
    W = A1.transpose() * G.ldlt().solve(A2);
    al.m_ = FromEigen(W);
    return al;
  }
  // Orthogonal Procrustes on standardised, zero-padded anchors.
  Stats(A1, o.standardize, &al.mean1_, &al.scale1_);
  Stats(A2, o.standardize, &al.mean2_, &al.scale2_);
  const int64_t D = std::max(al.d1_, al.d2_);
  RowMatD X1 = StandardizePad(a1, al.mean1_, al.scale1_, D), X2 = StandardizePad(a2, al.mean2_, al.scale2_, D);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(X1.transpose() * X2, Eigen::ComputeFullU | Eigen::ComputeFullV);
  RowMatD R = svd.matrixU() * svd.matrixV().transpose();
  al.m_ = FromEigen(R);
  return al;
}

Result<Matrix> Alignment::SourceToShared(MatrixView z1) const {
  RELGEO_RETURN_IF_ERROR(CheckLatents(z1, d1_, "space-1 latents"));
  switch (method_) {
    case AlignMethod::kAbsolute: return Matrix::CopyOf(z1);
    case AlignMethod::kLinear: return FromEigen(ToEigen(z1) * ToEigen(m_));
    case AlignMethod::kOrthogonal:
      return FromEigen(StandardizePad(z1, mean1_, scale1_, m_.rows()) * ToEigen(m_));
  }
  return Status::Internal("unknown alignment");
}

Result<Matrix> Alignment::TargetToShared(MatrixView z2) const {
  RELGEO_RETURN_IF_ERROR(CheckLatents(z2, d2_, "space-2 latents"));
  if (method_ == AlignMethod::kOrthogonal) return FromEigen(StandardizePad(z2, mean2_, scale2_, m_.rows()));
  return Matrix::CopyOf(z2);
}

Result<Matrix> Alignment::SourceToTarget(MatrixView z1) const {
  if (method_ != AlignMethod::kOrthogonal) return SourceToShared(z1);
  RELGEO_ASSIGN_OR_RETURN(Matrix s, SourceToShared(z1));
  Matrix out(s.rows(), d2_);
  for (int64_t i = 0; i < s.rows(); ++i)
    for (int64_t j = 0; j < d2_; ++j)
      out(i, j) = s(i, j) * scale2_[static_cast<size_t>(j)] + mean2_[static_cast<size_t>(j)];
  return out;
}

}  // namespace relgeo
