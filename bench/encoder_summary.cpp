// bench_encoder's summary table, JSON and scaling plots (encoder_summary.h).
#include "encoder_summary.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

#include "relgeo/plot.h"

namespace relgeo::bench {

std::string PrintRowTable(const EncoderRows& rows) {
  std::ostringstream js;
  js << "{\n";
  std::printf("\n%-52s %12s %12s %10s %10s %8s\n", "configuration", "pairs/s", "evals/s", "GFLOP/s", "exec GF/s",
              "% peak");
  bool first = true;
  for (const auto& [k, r] : rows) {
    if (!r.note.empty() && r.note[0] != '{') std::printf("  [%s: %s]\n", k.c_str(), r.note.c_str());
    if (k.rfind("memory", 0) == 0) continue;
    if (r.peak > 0)
      std::printf("%-52s %12.0f %12.0f %10.1f %10.1f %7.1f%%\n", k.c_str(), r.pairs_per_s, r.evals_per_s, r.gflops_map,
                  r.gflops_exec, 100.0 * r.gflops_map / r.peak);
    else if (r.gflops_exec > 0)
      std::printf("%-52s %12s %12s %10.1f\n", k.c_str(), "", "", r.gflops_exec);
    js << (first ? "" : ",\n") << "  \"" << k << "\": {\"pairs_per_s\": " << r.pairs_per_s
       << ", \"evals_per_s\": " << r.evals_per_s << ", \"gflops_map\": " << r.gflops_map
       << ", \"gflops_exec\": " << r.gflops_exec << ", \"peak\": " << r.peak << ", \"seconds\": " << r.seconds << "}";
    first = false;
  }
  js << "\n}\n";
  return js.str();
}

void WriteScalingPlots(const EncoderRows& rows, const std::string& prefix) {
  for (const bool by_k : {true, false}) {
    PlotSeries meas{"measured", {}, {}, {}}, line{"linear", {}, {}, {}};
    std::vector<std::pair<double, double>> pts;
    for (const auto& [key, r] : rows) {
      long k = 0;
      int n = 0;
      if (key.rfind("scaling ", 0) != 0 || std::sscanf(key.c_str(), "scaling K=%ld N=%d", &k, &n) != 2) continue;
      if (by_k ? n != 8 : k != 256) continue;
      pts.push_back({by_k ? double(k) : double(n - 1), 1e3 * r.seconds});
    }
    if (pts.size() < 2) continue;
    std::sort(pts.begin(), pts.end());
    for (const auto& [x, y] : pts) meas.x.push_back(x), meas.y.push_back(y);
    const double slope = meas.y.back() / meas.x.back();
    line.x = {0.0, meas.x.back()};
    line.y = {0.0, slope * meas.x.back()};
    LinePlot p;
    p.title = by_k ? "Encode of 64 queries vs anchors K (N = 8, MLP decoder)" : "Encode of 64 queries vs steps (K = 256, MLP decoder)";
    p.x_label = by_k ? "anchors K" : "map evaluations per line (N - 1)";
    p.y_label = "ms per Encode";
    p.x_min = 0, p.y_min = 0, p.x_max = meas.x.back() * 1.05, p.y_max = meas.y.back() * 1.15;
    p.series = {meas, line};
    const std::string path = prefix + (by_k ? "_K.png" : "_N.png");
    auto st = WritePlotPng(path, p);
    std::printf("%s: %s\n", path.c_str(), st.ok() ? "written" : st.ToString().c_str());
  }
}

}  // namespace relgeo::bench
