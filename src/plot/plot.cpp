// Line plots (include/relgeo/plot.h) drawn on the shared canvas (plot/canvas.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include "plot/canvas.h"
#include "relgeo/plot.h"

namespace relgeo {
namespace {

using plot::Canvas;
using plot::Rgb;

const Rgb kPalette[] = {{214, 39, 40},  {31, 119, 180}, {44, 160, 44},  {255, 127, 14},
                        {127, 127, 127}, {148, 103, 189}, {140, 86, 75},  {23, 190, 207}};

std::string Fmt(double v) {
  char b[32];
  if (std::abs(v - std::round(v)) < 1e-9 && std::abs(v) < 1e7) std::snprintf(b, sizeof b, "%.0f", v);
  else std::snprintf(b, sizeof b, "%.2g", v);
  std::string s = b;
  if (std::abs(v) < 1 && std::abs(v) > 0) {
    std::snprintf(b, sizeof b, "%.2f", v);
    s = b;
  }
  return s;
}

double NiceStep(double range, int target) {
  const double raw = range / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

}  // namespace

Status WritePlotPng(const std::string& path, const LinePlot& p) {
  if (p.series.empty()) return Status::InvalidArgument("plot has no series");
  if (p.width < 200 || p.height < 150 || p.width > 8000 || p.height > 8000)
    return Status::InvalidArgument("plot size out of range");
  double xmin = p.x_min, xmax = p.x_max, ymin = p.y_min, ymax = p.y_max;
  std::set<double> xs;
  double dxmin = 1e300, dxmax = -1e300, dymin = 1e300, dymax = -1e300;
  for (const auto& s : p.series) {
    if (s.x.size() != s.y.size() || (!s.band.empty() && s.band.size() != s.x.size()))
      return Status::InvalidArgument("series '" + s.name + "': x, y (and band) must have equal lengths");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) return Status::InvalidArgument("series '" + s.name + "' has a non-finite value");
      if (p.log_x && s.x[i] <= 0) return Status::InvalidArgument("log x axis needs positive x values");
      xs.insert(s.x[i]);
      const double b = s.band.empty() ? 0 : s.band[i];
      dxmin = std::min(dxmin, s.x[i]);
      dxmax = std::max(dxmax, s.x[i]);
      dymin = std::min(dymin, s.y[i] - b);
      dymax = std::max(dymax, s.y[i] + b);
    }
  }
  if (xs.empty()) return Status::InvalidArgument("plot has no points");
  if (xmin >= xmax) {
    xmin = dxmin;
    xmax = dxmax;
    if (xmin == xmax) {
      xmin = p.log_x ? xmin / 2 : xmin - 1;
      xmax = p.log_x ? xmax * 2 : xmax + 1;
    }
  }
  if (ymin >= ymax) {
    ymin = dymin;
    ymax = dymax;
    const double pad = ymax > ymin ? 0.05 * (ymax - ymin) : 1;
    ymin -= pad;
    ymax += pad;
  }
  Canvas c(p.width, p.height);
  const double scale = 2.0;  // text scale (stb_easy_font glyphs are ~7 px tall)
  const double L = 100, R = p.width - 190, T = 60, B = p.height - 80;
  auto fx = [&](double x) {
    const double t = p.log_x ? (std::log(x) - std::log(xmin)) / (std::log(xmax) - std::log(xmin)) : (x - xmin) / (xmax - xmin);
    const double pad = 0.03 * (R - L);
    return L + pad + t * (R - L - 2 * pad);
  };
  auto fy = [&](double y) { return B - (std::clamp(y, ymin, ymax) - ymin) / (ymax - ymin) * (B - T); };
  const Rgb black{0, 0, 0}, grid{225, 225, 225}, dark{60, 60, 60};

  // Grid, ticks and labels.
  const double ystep = NiceStep(ymax - ymin, 6);
  for (double y = std::ceil(ymin / ystep - 1e-9) * ystep; y <= ymax + 1e-9; y += ystep) {
    c.Line(L, fy(y), R, fy(y), grid, 1);
    c.Line(L - 6, fy(y), L, fy(y), black, 1.5);
    char tb[32];
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(ystep) - 1e-9)));
    std::snprintf(tb, sizeof tb, "%.*f", decimals, std::abs(y) < 1e-12 ? 0.0 : y);
    const std::string s = tb;
    c.Text(L - 10 - Canvas::TextWidth(s, scale), fy(y) - 6, s, dark, scale);
  }
  std::vector<double> xticks;
  if (p.log_x || xs.size() <= 12) {
    xticks.assign(xs.begin(), xs.end());
  } else {
    const double st = NiceStep(xmax - xmin, 8);
    for (double x = std::ceil(xmin / st) * st; x <= xmax + 1e-9; x += st) xticks.push_back(x);
  }
  double last_right = -1e9;
  for (double x : xticks) {
    c.Line(fx(x), T, fx(x), B, grid, 1);
    c.Line(fx(x), B, fx(x), B + 6, black, 1.5);
    const std::string s = Fmt(x);
    const double w = Canvas::TextWidth(s, scale);
    if (fx(x) - w / 2 > last_right + 6) {
      c.Text(fx(x) - w / 2, B + 12, s, dark, scale);
      last_right = fx(x) + w / 2;
    }
  }
  c.Line(L, B, R, B, black, 1.5);
  c.Line(L, T, L, B, black, 1.5);
  c.Text((L + R) / 2 - Canvas::TextWidth(p.x_label, scale) / 2, B + 45, p.x_label, black, scale);
  c.Text(30, (T + B) / 2 + Canvas::TextWidth(p.y_label, scale) / 2, p.y_label, black, scale, true);
  // Title: centred over the plot, shrunk to fit the image width.
  double tscale = scale * 1.2;
  const double unit_w = Canvas::TextWidth(p.title, 1.0);
  if (unit_w > 0) tscale = std::min(tscale, (p.width - 20) / unit_w);
  const double tx = std::clamp((L + R) / 2 - unit_w * tscale / 2, 10.0, std::max(10.0, p.width - 10 - unit_w * tscale));
  c.Text(tx, 20, p.title, black, tscale);

  // Bands first (translucent), then lines and markers on top.
  for (size_t si = 0; si < p.series.size(); ++si) {
    const auto& s = p.series[si];
    if (s.band.empty() || s.x.size() < 2) continue;
    const Rgb col = kPalette[si % 8];
    std::vector<size_t> idx(s.x.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    for (size_t k = 0; k + 1 < idx.size(); ++k) {
      const size_t a = idx[k], b = idx[k + 1];
      const double xa = fx(s.x[a]), xb = fx(s.x[b]);
      for (int x = static_cast<int>(std::ceil(xa)); x < static_cast<int>(std::ceil(xb)); ++x) {
        const double t = xb > xa ? (x - xa) / (xb - xa) : 0;
        const double lo = s.y[a] - s.band[a] + t * ((s.y[b] - s.band[b]) - (s.y[a] - s.band[a]));
        const double hi = s.y[a] + s.band[a] + t * ((s.y[b] + s.band[b]) - (s.y[a] + s.band[a]));
        c.FillRect(x, fy(hi), x + 1, fy(lo), col, 0.18);
      }
    }
  }
  for (size_t si = 0; si < p.series.size(); ++si) {
    const auto& s = p.series[si];
    const Rgb col = kPalette[si % 8];
    std::vector<size_t> idx(s.x.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    for (size_t k = 0; k + 1 < idx.size(); ++k)
      c.Line(fx(s.x[idx[k]]), fy(s.y[idx[k]]), fx(s.x[idx[k + 1]]), fy(s.y[idx[k + 1]]), col, 2.5);
    for (size_t i : idx) c.Disc(fx(s.x[i]), fy(s.y[i]), 4, col);
  }
  // Legend in the right margin.
  double ly = T + 10;
  for (size_t si = 0; si < p.series.size(); ++si) {
    const Rgb col = kPalette[si % 8];
    c.FillRect(R + 20, ly + 1, R + 50, ly + 13, col, 0.18);
    c.Line(R + 20, ly + 7, R + 50, ly + 7, col, 2.5);
    c.Disc(R + 35, ly + 7, 4, col);
    c.Text(R + 58, ly + 1, p.series[si].name, black, scale);
    ly += 28;
  }
  return c.WritePng(path);
}

}  // namespace relgeo
