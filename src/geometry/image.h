// Internal: a small RGB canvas for the geometry and stitching figures (heatmaps,
// image grids, text labels) and PNG output through stb_image_write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::img {

struct Canvas {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
  Canvas(int w, int h, uint8_t fill = 255) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3, fill) {}
  void Set(int x, int y, uint8_t r, uint8_t g, uint8_t b);
  void FillRect(int x, int y, int w, int h, uint8_t r, uint8_t g, uint8_t b);
  // Text with stb_easy_font (about 6 px per character at scale 1, 7 px tall).
  void Text(int x, int y, const std::string& s, int scale = 1, uint8_t r = 0, uint8_t g = 0, uint8_t b = 0);
  // A matrix as a heatmap, cell x cell pixels per entry, values mapped linearly from
  // [lo, hi] onto the viridis colour map.
  void Heatmap(int x, int y, MatrixView m, int cell, double lo, double hi);
  // A grayscale image (values in [0, 1], rows x cols) scaled by an integer factor.
  void Gray(int x, int y, const float* pixels, int rows, int cols, int scale);
};

// Viridis, t in [0, 1].
void Viridis(double t, uint8_t* rgb);

Status WritePng(const std::string& path, const Canvas& c);

}  // namespace relgeo::img
