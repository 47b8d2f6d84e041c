// Rank and linear correlation of two equally long samples (used to compare
// straight-line and geodesic energies, paper Fig. 2).
#pragma once

#include <vector>

#include "relgeo/status.h"

namespace relgeo {

// Ranks 1..n of `x`; tied values get the average of the ranks they span
// (so {10, 20, 20, 30} -> {1, 2.5, 2.5, 4}). NaNs are not allowed.
std::vector<double> AverageRanks(const std::vector<double>& x);

// Pearson's r. InvalidArgument when the lengths differ, n < 2, a value is not
// finite, or either sample is constant (r undefined).
Result<double> PearsonCorrelation(const std::vector<double>& x, const std::vector<double>& y);

// Spearman's rho: Pearson's r of the average ranks (ties handled exactly).
Result<double> SpearmanCorrelation(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace relgeo
