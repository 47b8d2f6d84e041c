// The canvas (canvas.h). stb_image_write and stb_easy_font are header-only; this
// is the one file of the project that compiles their implementation.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

#include "plot/canvas.h"

#include "relgeo/file_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace relgeo::plot {

Rgb Viridis(double t) {
  static const double k[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                 {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  const int i = std::min(7, static_cast<int>(t));
  const double f = t - i;
  uint8_t c[3];
  for (int j = 0; j < 3; ++j) c[j] = static_cast<uint8_t>(std::lround(k[i][j] * (1 - f) + k[i + 1][j] * f));
  return {c[0], c[1], c[2]};
}

void Canvas::Blend(int x, int y, Rgb c, double a) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_ || a <= 0) return;
  a = std::min(1.0, a);
  uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  p[0] = static_cast<uint8_t>(std::lround(p[0] * (1 - a) + c.r * a));
  p[1] = static_cast<uint8_t>(std::lround(p[1] * (1 - a) + c.g * a));
  p[2] = static_cast<uint8_t>(std::lround(p[2] * (1 - a) + c.b * a));
}

void Canvas::FillRect(double x0, double y0, double x1, double y1, Rgb c, double a) {
  const int ya = std::max(0, static_cast<int>(std::floor(std::min(y0, y1))));
  const int yb = std::min(h_, static_cast<int>(std::ceil(std::max(y0, y1))));
  const int xa = std::max(0, static_cast<int>(std::floor(std::min(x0, x1))));
  const int xb = std::min(w_, static_cast<int>(std::ceil(std::max(x0, x1))));
  for (int y = ya; y < yb; ++y)
    for (int x = xa; x < xb; ++x) Blend(x, y, c, a);
}

void Canvas::Line(double x0, double y0, double x1, double y1, Rgb c, double width) {
  // Coverage from the distance of each pixel centre to the segment.
  const double r = width / 2;
  const int xa = static_cast<int>(std::floor(std::min(x0, x1) - r - 1)), xb = static_cast<int>(std::ceil(std::max(x0, x1) + r + 1));
  const int ya = static_cast<int>(std::floor(std::min(y0, y1) - r - 1)), yb = static_cast<int>(std::ceil(std::max(y0, y1) + r + 1));
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = ya; y <= yb; ++y)
    for (int x = xa; x <= xb; ++x) {
      const double px = x + 0.5, py = y + 0.5;
      double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      t = std::clamp(t, 0.0, 1.0);
      const double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
      const double d = std::sqrt(ex * ex + ey * ey);
      Blend(x, y, c, std::clamp(r + 0.5 - d, 0.0, 1.0));
    }
}

void Canvas::Disc(double cx, double cy, double radius, Rgb c) {
  for (int y = static_cast<int>(cy - radius - 1); y <= static_cast<int>(cy + radius + 1); ++y)
    for (int x = static_cast<int>(cx - radius - 1); x <= static_cast<int>(cx + radius + 1); ++x) {
      const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      Blend(x, y, c, std::clamp(radius + 0.5 - d, 0.0, 1.0));
    }
}

void Canvas::Text(double x, double y, const std::string& s, Rgb c, double scale, bool vertical) {
  std::vector<char> buf(s.size() * 2048 + 1024);  // up to ~16 quads x 64 bytes per glyph
  std::string copy = s;
  const int quads = stb_easy_font_print(0, 0, copy.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
  const float* v = reinterpret_cast<const float*>(buf.data());
  for (int q = 0; q < quads; ++q) {
    const float* a = v + q * 16;  // 4 vertices x (x, y, z, colour)
    const double qx0 = a[0], qy0 = a[1], qx1 = a[8], qy1 = a[9];
    if (!vertical) FillRect(x + qx0 * scale, y + qy0 * scale, x + qx1 * scale, y + qy1 * scale, c);
    else FillRect(x + qy0 * scale, y - qx0 * scale, x + qy1 * scale, y - qx1 * scale, c);
  }
}

double Canvas::TextWidth(const std::string& s, double scale) {
  std::string copy = s;
  return stb_easy_font_width(copy.data()) * scale;
}

void Canvas::Heatmap(int x, int y, MatrixView m, int cell, double lo, double hi) {
  const double span = hi > lo ? hi - lo : 1.0;
  for (int64_t i = 0; i < m.rows(); ++i)
    for (int64_t j = 0; j < m.cols(); ++j) {
      const int cx = x + static_cast<int>(j) * cell, cy = y + static_cast<int>(i) * cell;
      FillRect(cx, cy, cx + cell, cy + cell, Viridis((m(i, j) - lo) / span));
    }
}

void Canvas::Gray(int x, int y, const float* pixels, int rows, int cols, int scale) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      float v = pixels[i * cols + j];
      if (!std::isfinite(v)) v = 0;
      const auto g = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255));
      const int cx = x + j * scale, cy = y + i * scale;
      FillRect(cx, cy, cx + scale, cy + scale, {g, g, g});
    }
}

Status Canvas::WritePng(const std::string& path) const {
  if (w_ <= 0 || h_ <= 0) return Status::InvalidArgument("empty image");
  // Encoded in memory, then one all-or-nothing write (stb's own file writer does not
  // check its writes).
  int len = 0;
  unsigned char* png = stbi_write_png_to_mem(px_.data(), w_ * 3, w_, h_, 3, &len);
  if (!png) return Status::Internal("cannot encode PNG " + path);
  Status s = WriteFileAtomically(path, {std::string_view(reinterpret_cast<const char*>(png), static_cast<size_t>(len))});
  STBIW_FREE(png);
  return s;
}

}  // namespace relgeo::plot
