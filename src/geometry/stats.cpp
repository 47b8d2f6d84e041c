#include "relgeo/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace relgeo {

std::vector<double> AverageRanks(const std::vector<double>& x) {
  const size_t n = x.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && x[order[j + 1]] == x[order[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;  // ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) rank[order[k]] = avg;
    i = j + 1;
  }
  return rank;
}

Result<double> PearsonCorrelation(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size())
    return Status::InvalidArgument("correlation needs equally long samples (" + std::to_string(x.size()) + " vs " +
                                   std::to_string(y.size()) + ")");
  const size_t n = x.size();
  if (n < 2) return Status::InvalidArgument("correlation needs at least 2 values");
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
      return Status::InvalidArgument("correlation input has a non-finite value at index " + std::to_string(i));
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = x[i] - mx, b = y[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (sxx == 0 || syy == 0) return Status::InvalidArgument("correlation is undefined: a sample is constant");
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

Result<double> SpearmanCorrelation(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) return PearsonCorrelation(x, y);  // same message
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
      return Status::InvalidArgument("correlation input has a non-finite value at index " + std::to_string(i));
  return PearsonCorrelation(AverageRanks(x), AverageRanks(y));
}

}  // namespace relgeo
