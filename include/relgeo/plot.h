// A small PNG line-plot writer (no external plotting dependency): lines with
// markers, an optional shaded band (mean +- std) per series, axes with ticks,
// labels and a legend, text drawn with stb_easy_font.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/status.h"

namespace relgeo {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> band;  // optional: half-width of the shaded band at each x (e.g. std)
};

struct LinePlot {
  std::string title, x_label, y_label;
  bool log_x = false;
  // Axis ranges; min >= max means "from the data".
  double x_min = 0, x_max = 0, y_min = 0, y_max = 0;
  int width = 960, height = 640;
  std::vector<PlotSeries> series;
};

// Renders and writes an RGB PNG. Empty series or non-positive x with log_x are errors.
Status WritePlotPng(const std::string& path, const LinePlot& plot);

}  // namespace relgeo
