// relgeo eval geodesic: how well the straight-line energy ranks pairs compared with
// the optimised geodesic energy (paper Fig. 2 / Fig. 8).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "cli_common.h"
#include "relgeo/geodesic.h"
#include "relgeo/metric_map.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/stats.h"

namespace relgeo::cli {
namespace {

struct GeoArgs {
  std::string map, latents, labels, distance = "euclidean", image, sweep = "2,4,8,16,32";
  int64_t count = 100, sweep_count = 20, per_class = 0;
  int steps = 8, iterations = 150, refine = 1;
  double lr = 0.05, budget_mb = 1024;
  bool json = false;
};

std::vector<int> ParseIntList(const std::string& s, const char* flag) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    if (tok.empty()) continue;
    try {
      size_t used = 0;
      int v = std::stoi(tok, &used);
      if (used != tok.size() || v < 1) throw std::invalid_argument(tok);
      out.push_back(v);
    } catch (const std::exception&) {
      throw CommandError{Status::InvalidArgument(std::string(flag) + ": '" + tok + "' is not a positive integer")};
    }
  }
  return out;
}

struct PairSet {
  Matrix starts, ends;
};
PairSet MakePairs(const Matrix& z, int64_t n) {
  auto pairs = AllPairs(n);
  PairSet p{Matrix(static_cast<int64_t>(pairs.size()), z.cols()), Matrix(static_cast<int64_t>(pairs.size()), z.cols())};
  for (size_t k = 0; k < pairs.size(); ++k) {
    std::copy(z.row(pairs[k].first), z.row(pairs[k].first) + z.cols(), p.starts.row(k));
    std::copy(z.row(pairs[k].second), z.row(pairs[k].second) + z.cols(), p.ends.row(k));
  }
  return p;
}

Matrix ToSquare(const std::vector<double>& v, int64_t n) {
  Matrix m(n, n);
  auto pairs = AllPairs(n);
  for (size_t k = 0; k < pairs.size(); ++k) {
    m(pairs[k].first, pairs[k].second) = static_cast<float>(v[k]);
    m(pairs[k].second, pairs[k].first) = static_cast<float>(v[k]);
  }
  return m;
}

nlohmann::json Compare(const GeodesicResult& r) {
  nlohmann::json j;
  j["spearman"] = OrDie(SpearmanCorrelation(r.line_energy, r.energy), "energy correlation");
  j["pearson"] = OrDie(PearsonCorrelation(r.line_energy, r.energy), "energy correlation");
  j["spearman_length"] = OrDie(SpearmanCorrelation(r.line_length, r.length), "length correlation");
  double ratio = 0, num = 0, den = 0;
  for (size_t i = 0; i < r.energy.size(); ++i) {
    ratio += r.line_energy[i] > 0 ? r.energy[i] / r.line_energy[i] : 1.0;
    num += (r.line_energy[i] - r.energy[i]) * (r.line_energy[i] - r.energy[i]);
    den += r.energy[i] * r.energy[i];
  }
  j["mean_energy_ratio"] = ratio / r.energy.size();  // geodesic / straight line, <= 1
  j["relative_difference"] = den > 0 ? std::sqrt(num / den) : 0.0;  // |E_line - E_geo|_F / |E_geo|_F
  j["improved_pairs"] = r.improved;
  if (!r.refined_energy.empty()) {
    j["spearman_refined"] = OrDie(SpearmanCorrelation(r.refined_line_energy, r.refined_energy), "refined");
    j["pearson_refined"] = OrDie(PearsonCorrelation(r.refined_line_energy, r.refined_energy), "refined");
    // Optimised curve evaluated finely vs its own coarse energy (> 1: the optimum used the grid).
    double up = 0, rr = 0;
    for (size_t i = 0; i < r.energy.size(); ++i) {
      up += r.energy[i] > 0 ? r.refined_energy[i] / r.energy[i] : 1.0;
      rr += r.refined_line_energy[i] > 0 ? r.refined_energy[i] / r.refined_line_energy[i] : 1.0;
    }
    j["mean_refined_over_optimised"] = up / r.energy.size();
    j["mean_refined_energy_ratio"] = rr / r.energy.size();
  }
  j["pairs"] = r.energy.size();
  return j;
}

void RunGeodesic(const GeoArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  CheckFlag<int64_t>("--limit", a.count, 2, kMaxGeodesicRows, "rows; all n(n-1)/2 pairs are optimised");
  CheckFlag<int64_t>("--sweep-count", a.sweep_count, 0, kMaxGeodesicRows, "rows of the sweep; 0 = no sweep");
  CheckFlag<int64_t>("--per-class", a.per_class, 0, kMaxGeodesicRows, "rows per class; 0 = all rows");
  CheckFlag<int64_t>("--iterations", a.iterations, 0, kMaxIterations, "Adam iterations per curve");
  CheckFlag<int64_t>("--refine", a.refine, 1, kMaxRefine, "segment split of the diagnostic");
  Matrix z = OrDie(ReadNpyMatrix(a.latents), "--latents");
  if (a.per_class > 0) {
    // The paper's sample: the first per_class rows of every class, sorted by label.
    if (a.labels.empty()) throw CommandError{Status::InvalidArgument("--per-class needs --labels")};
    std::vector<int64_t> labels = OrDie(ReadNpyInt64(a.labels), "--labels");
    if (static_cast<int64_t>(labels.size()) != z.rows())
      throw CommandError{Status::InvalidArgument("--labels has " + std::to_string(labels.size()) + " values for " +
                                                 std::to_string(z.rows()) + " latents")};
    std::map<int64_t, std::vector<int64_t>> by_class;
    for (int64_t i = 0; i < z.rows(); ++i)
      if (static_cast<int64_t>(by_class[labels[i]].size()) < a.per_class) by_class[labels[i]].push_back(i);
    std::vector<float> data;
    for (const auto& [label, rows] : by_class)
      for (int64_t r : rows) data.insert(data.end(), z.row(r), z.row(r) + z.cols());
    const int64_t rows = static_cast<int64_t>(data.size()) / z.cols(), cols = z.cols();
    z = Matrix(rows, cols, std::move(data));
  }
  const int64_t n = std::min(a.count, z.rows());
  if (n < 2) throw CommandError{Status::InvalidArgument("--latents has fewer than 2 rows")};
  OrDie(CheckLatents(z, 0, "latents"), "--latents");
  std::vector<int> sweep = ParseIntList(a.sweep, "--sweep");
  MetricMapOptions mo;
  mo.distance = OrDie(ParseOutputDistance(a.distance), "--distance");
  mo.input_dim = z.cols();
  auto map = OrDie(MetricMap::Load(a.map, mo), "--map");

  CheckFlag("--steps", a.steps, 1, kMaxSteps, "curve segments");
  for (int N : sweep) CheckFlag("--sweep", N, 1, kMaxSteps, "curve segments of the sweep");
  GeodesicOptions go;
  go.steps = a.steps;
  go.iterations = a.iterations;
  go.learning_rate = a.lr;
  go.refine = a.refine;
  go.memory_budget_bytes = MemoryBudgetBytes("--memory-mb", a.budget_mb);
  auto solve = [&](int64_t rows, int steps) {
    PairSet p = MakePairs(z, rows);
    Progress bar("geodesics N=" + std::to_string(steps), p.starts.rows(), "pairs");
    GeodesicOptions o = go;
    o.steps = steps;
    o.progress = [&](int64_t done, int64_t) { bar.Update(done); };
    GeodesicResult r = OrDie(SolveGeodesics(*map, p.starts, p.ends, o), "geodesics");
    bar.Finish();
    return r;
  };

  GeodesicResult main = solve(n, a.steps);
  nlohmann::json out = Compare(main);
  out["count"] = n;
  out["steps"] = a.steps;
  out["iterations"] = a.iterations;
  out["learning_rate"] = a.lr;
  out["distance"] = a.distance;
  nlohmann::json sw = nlohmann::json::array();
  const int64_t sn = std::min(n, a.sweep_count);
  if (sn >= 3) {
    for (int N : sweep) {
      GeodesicResult r = (N == a.steps && sn == n) ? main : solve(sn, N);
      nlohmann::json j = Compare(r);
      j["steps"] = N;
      j["count"] = sn;
      sw.push_back(j);
    }
  }
  out["sweep"] = sw;
  if (!a.image.empty()) {
    const std::string suffix = " (N=" + std::to_string(a.steps) + ")";
    OrDie(WriteHeatmapPairPng(a.image, ToSquare(main.line_energy, n), "straight line" + suffix,
                              ToSquare(main.energy, n), "geodesic" + suffix),
          "--image");
  }
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("%lld points, %lld pairs, N = %d, %s distance, %d Adam iterations\n", static_cast<long long>(n),
              static_cast<long long>(main.energy.size()), a.steps, a.distance.c_str(), a.iterations);
  std::printf("straight-line vs geodesic energy: Spearman rho = %.4f, Pearson r = %.4f\n",
              out["spearman"].get<double>(), out["pearson"].get<double>());
  std::printf("geodesic / straight-line energy: mean %.4f; improved pairs %lld\n",
              out["mean_energy_ratio"].get<double>(), static_cast<long long>(main.improved));
  if (!sw.empty()) {
    std::printf("sweep over steps (%lld points):\n  %5s %9s %9s %9s\n", static_cast<long long>(sn), "N", "spearman",
                "pearson", "E_geo/E");
    for (const auto& j : sw)
      std::printf("  %5d %9.4f %9.4f %9.4f\n", j["steps"].get<int>(), j["spearman"].get<double>(),
                  j["pearson"].get<double>(), j["mean_energy_ratio"].get<double>());
  }
  if (!a.image.empty() && !Globals().quiet) std::fprintf(stderr, "wrote %s\n", a.image.c_str());
}

CLI::App* EvalGroup(CLI::App& app) {
  try {
    return app.get_subcommand("eval");
  } catch (const CLI::OptionNotFound&) {
    CLI::App* e = app.add_subcommand("eval", "Evaluate representations and geometry");
    e->require_subcommand(1);
    return e;
  }
}

void RegisterGeodesic(CLI::App& app) {
  auto a = std::make_shared<GeoArgs>();
  CLI::App* c = EvalGroup(app)->add_subcommand(
      "geodesic", "Straight-line vs optimised geodesic energies over all pairs (Spearman / Pearson)");
  c->footer(
      "Optimises the discrete curve between every pair of the first --limit latents (fixed end points,\n"
      "Adam through the metric map, starting from the straight line) and compares its energy with the\n"
      "straight line's. The sweep repeats this for each N on the first --sweep-count rows.\n"
      "Examples:\n"
      "  relgeo eval geodesic --map decoder.pt --latents z_test.npy --labels labels_test.npy --per-class 10 \\\n"
      "      --limit 100 --steps 8 --image fig2.png\n"
      "  relgeo eval geodesic --map head.pt --distance sphere --latents z.npy --limit 50 --json");
  c->add_option("--map", a->map, "Metric map (decoder or head): TorchScript (.pt) or AOTInductor package (.pt2)")->required()->check(CLI::ExistingFile);
  c->add_option("--latents", a->latents, "Latents, n x d .npy (the first --limit rows are used)")
      ->required()
      ->check(CLI::ExistingFile);
  c->add_option("--limit,--count", a->count, "Use the first N rows, all N(N-1)/2 pairs (--count: the older spelling, still accepted)")->capture_default_str();
  c->add_option("--labels", a->labels, "Labels of --latents (.npy int), for --per-class")->check(CLI::ExistingFile);
  c->add_option("--per-class", a->per_class, "Use the first N rows of every class, sorted by label (then --limit)")
      ->capture_default_str();
  c->add_option("--steps", a->steps, "Curve segments N")->capture_default_str();
  c->add_option("--distance", a->distance, "euclidean | sphere | fisher")->capture_default_str();
  c->add_option("--iterations", a->iterations, "Adam iterations per curve")->capture_default_str();
  c->add_option("--lr", a->lr, "Adam learning rate (relative to |a - z| / sqrt(d))")->capture_default_str();
  c->add_option("--refine", a->refine, "Diagnostic: also evaluate both curves with every segment split in R")
      ->capture_default_str();
  c->add_option("--sweep", a->sweep, "Comma-separated N for the sweep (empty: none)")->capture_default_str();
  c->add_option("--sweep-count", a->sweep_count, "Rows used by the sweep (0: no sweep)")->capture_default_str();
  c->add_option("--memory-mb", a->budget_mb, "Memory budget of one optimisation chunk")->capture_default_str();
  c->add_option("--image", a->image, "Write both energy matrices as heatmaps to this PNG");
  c->add_flag("--json", a->json, "Print one JSON document");
  c->callback([a] { RunGeodesic(*a); });
}

// Late order: issue-4's `eval` group (if any) is created first; this command joins it.
const bool registered = RegisterCommand(90, RegisterGeodesic);

}  // namespace
}  // namespace relgeo::cli
