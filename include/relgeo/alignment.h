// Alignment baselines between two latent spaces, fitted on anchor pairs only
// (docs/design.md §1): absolute (identity), linear least squares (ridge when the
// anchors cannot determine the map), and orthogonal Procrustes after
// standardising each space with its own anchor statistics and zero-padding to a
// common dimension.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

enum class AlignMethod {
  kAbsolute,    // compare latents as they are (dimensions must match)
  kLinear,      // W = argmin |A1 W - A2|_F
  kOrthogonal,  // R = U V^T from the SVD of X1^T X2 (standardised, zero-padded anchors)
};
const char* AlignMethodName(AlignMethod m);                   // "absolute" | "linear" | "orthogonal"
Result<AlignMethod> ParseAlignMethod(const std::string& name);

enum class Standardize {
  kPerDimension,  // subtract the anchors' mean, divide each dimension by its std (the default)
  kGlobal,        // subtract the mean, divide by one scalar (RMS of the centred anchors)
  kNone,
};

struct AlignOptions {
  // Linear: ridge strength relative to the anchors' mean squared norm. < 0 = automatic:
  // plain least squares when K > d1 (and A1 has full column rank), 1e-3 otherwise.
  double ridge = -1;
  Standardize standardize = Standardize::kPerDimension;  // orthogonal only
};

class Alignment {
 public:
  // anchors1: K x d1 (space 1), anchors2: K x d2 (space 2), rows in correspondence.
  static Result<Alignment> Fit(AlignMethod method, MatrixView anchors1, MatrixView anchors2,
                               const AlignOptions& options = {});

  // Both spaces mapped into the space where they are compared (by cosine for MRR):
  //   absolute: z1 | z2;  linear: z1 W | z2;  orthogonal: pad(std1(z1)) R | pad(std2(z2)).
  Result<Matrix> SourceToShared(MatrixView z1) const;
  Result<Matrix> TargetToShared(MatrixView z2) const;
  // z1 carried into space 2's own coordinates (for stitching D2(T z1)); for
  // orthogonal the result is un-padded and un-standardised with space 2's statistics.
  Result<Matrix> SourceToTarget(MatrixView z1) const;

  AlignMethod method() const { return method_; }
  int64_t source_dim() const { return d1_; }
  int64_t target_dim() const { return d2_; }
  // The fitted matrix: W (d1 x d2) for linear, R (D x D) for orthogonal, empty for absolute.
  const Matrix& matrix() const { return m_; }

 private:
  AlignMethod method_ = AlignMethod::kAbsolute;
  int64_t d1_ = 0, d2_ = 0;
  Matrix m_;
  std::vector<float> mean1_, scale1_, mean2_, scale2_;  // orthogonal standardisation
};

}  // namespace relgeo
