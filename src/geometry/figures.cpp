// The geometry figures (paper Fig. 2 heatmaps).
#include <algorithm>
#include <cmath>

#include "plot/canvas.h"
#include "relgeo/geodesic.h"

namespace relgeo {

Status WriteHeatmapPairPng(const std::string& path, MatrixView left, const std::string& left_title, MatrixView right,
                           const std::string& right_title) {
  if (left.empty() || right.empty()) return Status::InvalidArgument("heatmap matrices are empty");
  const int64_t n = std::max({left.rows(), left.cols(), right.rows(), right.cols()});
  const int cell = static_cast<int>(std::max<int64_t>(1, 400 / n));
  const int side = static_cast<int>(n) * cell, pad = 20, top = 36, bar = 14;
  double lo = INFINITY, hi = -INFINITY;
  for (MatrixView m : {left, right})
    for (int64_t i = 0; i < m.size(); ++i)
      if (std::isfinite(m.data()[i])) {
        lo = std::min<double>(lo, m.data()[i]);
        hi = std::max<double>(hi, m.data()[i]);
      }
  plot::Canvas c(3 * pad + 2 * side, top + side + pad + bar + 24);
  const plot::Rgb black{0, 0, 0};
  c.Text(pad, 10, left_title, black, 2);
  c.Text(2 * pad + side, 10, right_title, black, 2);
  c.Heatmap(pad, top, left, cell, lo, hi);
  c.Heatmap(2 * pad + side, top, right, cell, lo, hi);
  // Colour bar under both panels with its range.
  const int bw = 2 * side + pad, by = top + side + pad / 2;
  for (int x = 0; x < bw; ++x)
    c.FillRect(pad + x, by, pad + x + 1, by + bar, plot::Viridis(static_cast<double>(x) / std::max(1, bw - 1)));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", lo);
  c.Text(pad, by + bar + 4, buf, black, 1);
  std::snprintf(buf, sizeof buf, "%.4g", hi);
  c.Text(pad + bw - 6 * static_cast<int>(std::string(buf).size()), by + bar + 4, buf, black, 1);
  c.Text(pad + bw / 2 - 18, by + bar + 4, "energy", black, 1);
  return c.WritePng(path);
}

}  // namespace relgeo
