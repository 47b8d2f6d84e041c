// Internal: the one RGB raster canvas behind every figure relgeo writes (line
// plots, geodesic heatmaps, stitching image grids) and its PNG writer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::plot {

struct Rgb {
  uint8_t r, g, b;
};

// Viridis colour map, t in [0, 1] (non-finite t maps to 0).
Rgb Viridis(double t);

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<size_t>(w > 0 ? w : 0) * (h > 0 ? h : 0) * 3, 255) {}
  int width() const { return w_; }
  int height() const { return h_; }

  // Mixes colour c into pixel (x, y) with opacity a in [0, 1]; outside pixels are ignored.
  void Blend(int x, int y, Rgb c, double a = 1);
  // Every pixel whose centre lies in the rectangle spanned by the two corners.
  void FillRect(double x0, double y0, double x1, double y1, Rgb c, double a = 1);
  // Anti-aliased thick line segment and disc.
  void Line(double x0, double y0, double x1, double y1, Rgb c, double width);
  void Disc(double cx, double cy, double radius, Rgb c);
  // Text with stb_easy_font (glyphs about 6 x 7 px at scale 1), (x, y) the top-left;
  // vertical text reads bottom to top with (x, y) the bottom-left.
  void Text(double x, double y, const std::string& s, Rgb c, double scale, bool vertical = false);
  static double TextWidth(const std::string& s, double scale);
  // A matrix as a heatmap, cell x cell pixels per entry, [lo, hi] mapped onto viridis.
  void Heatmap(int x, int y, MatrixView m, int cell, double lo, double hi);
  // A grayscale image (values in [0, 1], rows x cols) scaled by an integer factor.
  void Gray(int x, int y, const float* pixels, int rows, int cols, int scale);

  // Writes the canvas as an RGB PNG, atomically (a temporary file renamed into place).
  Status WritePng(const std::string& path) const;

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

}  // namespace relgeo::plot
