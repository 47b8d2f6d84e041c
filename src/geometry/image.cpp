// stb_image_write with STB_IMAGE_WRITE_STATIC: its functions are static to this
// file, so another file of the project may include the implementation as well.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

#include "geometry/image.h"

#include <algorithm>
#include <cmath>

namespace relgeo::img {

void Canvas::Set(int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
  p[0] = r;
  p[1] = g;
  p[2] = b;
}

void Canvas::FillRect(int x, int y, int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  for (int yy = std::max(0, y); yy < std::min(height, y + h); ++yy)
    for (int xx = std::max(0, x); xx < std::min(width, x + w); ++xx) Set(xx, yy, r, g, b);
}

void Canvas::Text(int x, int y, const std::string& s, int scale, uint8_t r, uint8_t g, uint8_t b) {
  static thread_local std::vector<char> buf(1 << 16);
  std::string copy = s;
  const int quads = stb_easy_font_print(0, 0, copy.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
  const float* v = reinterpret_cast<const float*>(buf.data());
  for (int q = 0; q < quads; ++q) {
    const float* p = v + q * 16;  // 4 vertices of (x, y, z, rgba) = 4 floats each
    const int x0 = static_cast<int>(p[0]), y0 = static_cast<int>(p[1]);
    const int x1 = static_cast<int>(p[8]), y1 = static_cast<int>(p[9]);
    FillRect(x + x0 * scale, y + y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale, r, g, b);
  }
}

void Viridis(double t, uint8_t* rgb) {
  static const double k[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                 {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  const int i = std::min(7, static_cast<int>(t));
  const double f = t - i;
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(std::lround(k[i][c] * (1 - f) + k[i + 1][c] * f));
}

void Canvas::Heatmap(int x, int y, MatrixView m, int cell, double lo, double hi) {
  const double span = hi > lo ? hi - lo : 1.0;
  uint8_t c[3];
  for (int64_t i = 0; i < m.rows(); ++i)
    for (int64_t j = 0; j < m.cols(); ++j) {
      Viridis((m(i, j) - lo) / span, c);
      FillRect(x + static_cast<int>(j) * cell, y + static_cast<int>(i) * cell, cell, cell, c[0], c[1], c[2]);
    }
}

void Canvas::Gray(int x, int y, const float* pixels, int rows, int cols, int scale) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      float v = pixels[i * cols + j];
      if (!std::isfinite(v)) v = 0;
      const auto g = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255));
      FillRect(x + j * scale, y + i * scale, scale, scale, g, g, g);
    }
}

Status WritePng(const std::string& path, const Canvas& c) {
  if (c.width <= 0 || c.height <= 0) return Status::InvalidArgument("empty image");
  if (!stbi_write_png(path.c_str(), c.width, c.height, 3, c.rgb.data(), c.width * 3))
    return Status::IOError("cannot write PNG " + path);
  return Status::OK();
}

}  // namespace relgeo::img
