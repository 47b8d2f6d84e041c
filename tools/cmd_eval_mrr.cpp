// relgeo eval mrr: the MRR anchor sweep between two models (paper Fig. 3).
#include <cstdio>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "relgeo/sweep.h"
#include "relgeo/database.h"  // kMaxSearchK
#include "relgeo/npy.h"

namespace relgeo::cli {
namespace {

struct MrrArgs {
  std::string a_map, a_latents, b_map, b_latents, a_pool, b_pool, csv, plot, title;
  std::string anchors = "2,3,5,8,10,15,20,25,50,100,300";
  std::string methods = "relgeo,cosine,linear,orthogonal,absolute";
  std::string select = "uniform", mode = "length", distance = "euclidean";
  int draws = 5, steps = 8;
  uint64_t seed = 0;
  int64_t k = 10, limit = 0, relgeo_max = 0;
  double budget_mb = 256;
  bool independent = false, json = false;
};

Matrix FirstRows(Matrix m, int64_t limit) {
  if (limit <= 0 || limit >= m.rows()) return m;
  return Matrix(limit, m.cols(), std::vector<float>(m.data(), m.data() + limit * m.cols()));
}

void RunMrr(const MrrArgs& a) {
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  CheckFlag<int64_t>("--draws", a.draws, 1, kMaxDraws, "random anchor draws per count");
  CheckFlag<int64_t>("--k", a.k, 1, kMaxSearchK, "k of the MRR@k columns");
  CheckFlag<int64_t>("--limit", a.limit, 0, kMaxRowLimit, "rows evaluated; 0 = all");
  CheckFlag<int64_t>("--relgeo-max-anchors", a.relgeo_max, 0, kMaxAnchors, "0 = no cap");
  const int64_t budget_bytes = MemoryBudgetBytes("--memory-mb", a.budget_mb);
  MrrSweepOptions o;
  o.anchor_counts = ParseAnchorCounts(a.anchors);
  o.methods = OrDie(ParseSweepMethods(a.methods), "--methods");
  o.draws = a.draws;
  o.encoder.steps = a.steps;
  o.encoder.mode = OrDie(ParsePathMode(a.mode), "--mode");
  o.encoder.memory_budget_bytes = budget_bytes;
  o.selection = OrDie(ParseAnchorSelection(a.select), "--select");
  o.seed = a.seed;
  o.k = a.k;
  o.nested = !a.independent;
  o.relgeo_max_anchors = a.relgeo_max;

  Matrix za = FirstRows(OrDie(ReadNpyMatrix(a.a_latents), "--a-latents"), a.limit);
  Matrix zb = FirstRows(OrDie(ReadNpyMatrix(a.b_latents), "--b-latents"), a.limit);
  Matrix pa, pb;
  if (a.a_pool.empty() != a.b_pool.empty())
    throw CommandError{Status::InvalidArgument("give both --a-pool and --b-pool, or neither")};
  if (!a.a_pool.empty()) {
    pa = OrDie(ReadNpyMatrix(a.a_pool), "--a-pool");
    pb = OrDie(ReadNpyMatrix(a.b_pool), "--b-pool");
  }
  MrrSweepInputs in;
  in.latents_a = za;
  in.latents_b = zb;
  in.pool_a = pa;
  in.pool_b = pb;
  const bool relgeo = std::find(o.methods.begin(), o.methods.end(), SweepMethod::kRelgeo) != o.methods.end();
  if (relgeo) {
    if (a.a_map.empty() || a.b_map.empty())
      throw CommandError{Status::InvalidArgument("method relgeo needs --a-map and --b-map")};
    MetricMapOptions mo;
    mo.distance = OrDie(ParseOutputDistance(a.distance), "--distance");
    mo.input_dim = za.cols();
    in.map_a = OrDie(MetricMap::Load(a.a_map, mo), "--a-map");
    mo.input_dim = zb.cols();
    in.map_b = OrDie(MetricMap::Load(a.b_map, mo), "--b-map");
  }
  std::unique_ptr<Progress> bar;
  std::string stage;
  o.on_progress = [&](const SweepProgress& p) {
    if (p.stage != stage) {
      if (bar) bar->Finish();
      stage = p.stage;
      bar = std::make_unique<Progress>(p.stage, p.total, p.stage.rfind("mrr", 0) == 0 ? "counts" : "rows");
    }
    bar->Update(p.done);
  };
  if (!Globals().quiet)
    std::fprintf(stderr, "MRR sweep: %lld evaluated rows, anchors from %s (%lld rows), %d draws, steps %d\n",
                 static_cast<long long>(za.rows()), a.a_pool.empty() ? "the evaluated rows" : "the pools",
                 static_cast<long long>(a.a_pool.empty() ? za.rows() : pa.rows()), o.draws, o.encoder.steps);
  std::vector<MrrSweepRow> rows = OrDie(RunMrrSweep(in, o));
  if (bar) bar->Finish();
  if (!a.csv.empty()) OrDie(WriteSweepCsv(a.csv, rows), "--csv");
  if (!a.plot.empty()) {
    std::string title = a.title.empty() ? "MRR vs anchors (" + std::to_string(za.rows()) + " samples)" : a.title;
    OrDie(WritePlotPng(a.plot, SweepPlot(rows, title)), "--plot");
  }
  const auto summary = SummarizeSweep(rows);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& s : summary)
      j.push_back({{"method", s.method}, {"anchors", s.anchors}, {"draws", s.draws}, {"mrr_mean", s.mean},
                   {"mrr_std", s.std}, {"mrr_min", s.min}, {"mrr_max", s.max}});
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%-11s %8s %10s %9s\n", "method", "anchors", "mrr_mean", "mrr_std");
    for (const auto& s : summary)
      std::printf("%-11s %8lld %10.4f %9.4f\n", s.method.c_str(), static_cast<long long>(s.anchors), s.mean, s.std);
  }
  if (!Globals().quiet) {
    if (!a.csv.empty()) std::fprintf(stderr, "wrote %s (%zu rows)\n", a.csv.c_str(), rows.size());
    if (!a.plot.empty()) std::fprintf(stderr, "wrote %s\n", a.plot.c_str());
  }
}

// The "eval" group may also be created by other command files; reuse it if so.
CLI::App* EvalGroup(CLI::App& app) {
  for (CLI::App* s : app.get_subcommands([](CLI::App* c) { return c->get_name() == "eval"; })) return s;
  CLI::App* g = app.add_subcommand("eval", "Evaluation protocols (retrieval MRR, ...)");
  g->require_subcommand(1);
  return g;
}

void RegisterEvalMrr(CLI::App& app) {
  auto a = std::make_shared<MrrArgs>();
  CLI::App* c = EvalGroup(app)->add_subcommand("mrr", "MRR anchor sweep between two models' latent spaces");
  c->footer(
      "Rows of ZA and ZB are the same samples (row i of A must retrieve row i of B). Anchors come from the\n"
      "pools (rows correspond, e.g. the validation split) or, without pools, from the evaluated rows.\n"
      "CSV columns: method,anchors,draw,mrr (symmetric cosine, full rank),mrr_cosine_asym,mrr_cdist_sym,\n"
      "mrr_cdist_asym, the same four @k, k, seconds.\n"
      "Examples:\n"
      "  relgeo eval mrr --a-map conv1/decoder.pt --a-latents conv1/z_test.npy --b-map conv2/decoder.pt \\\n"
      "      --b-latents conv2/z_test.npy --a-pool conv1/z_val.npy --b-pool conv2/z_val.npy \\\n"
      "      --anchor-counts 5,10,50 --draws 5 --methods relgeo,cosine,linear,orthogonal,absolute --csv mrr.csv --plot mrr.png\n"
      "  relgeo eval mrr --a-latents za.npy --b-latents zb.npy --methods cosine,linear --anchor-counts 10 --draws 3");
  c->add_option("--a-map", a->a_map, "Model A's metric map (TorchScript decoder)")->check(CLI::ExistingFile);
  c->add_option("--a-latents", a->a_latents, "Model A's latents of the evaluated samples (n x d_a .npy)")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--b-map", a->b_map, "Model B's metric map")->check(CLI::ExistingFile);
  c->add_option("--b-latents", a->b_latents, "Model B's latents of the same samples (n x d_b .npy)")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--a-pool", a->a_pool, "Model A's anchor pool (m x d_a .npy)")->check(CLI::ExistingFile);
  c->add_option("--b-pool", a->b_pool, "Model B's anchor pool, rows matching --a-pool")->check(CLI::ExistingFile);
  c->add_option("--anchor-counts,--anchors", a->anchors, "Comma-separated anchor counts (--anchors: the older spelling, still accepted)")->capture_default_str();
  c->add_option("--draws", a->draws, "Random anchor draws per count")->capture_default_str();
  c->add_option("--methods", a->methods, "Comma-separated: relgeo,cosine,linear,orthogonal,absolute")
      ->capture_default_str();
  c->add_option("--steps", a->steps, "relgeo straight-line steps N")->capture_default_str();
  c->add_option("--mode", a->mode, "relgeo path mode: length | energy")->capture_default_str();
  c->add_option("--distance", a->distance, "Output distance of the maps: euclidean | sphere | fisher")
      ->capture_default_str();
  c->add_option("--select", a->select, "Anchor selection: uniform | fps | kmeans")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of the anchor draws")->capture_default_str();
  c->add_option("--k", a->k, "k of the MRR@k columns")->capture_default_str();
  c->add_option("--limit", a->limit, "Evaluate only the first N rows (0 = all)");
  c->add_option("--relgeo-max-anchors", a->relgeo_max,
                "Evaluate relgeo only at anchor counts <= N (its cost grows with K); baselines run at all counts");
  c->add_option("--memory-mb", a->budget_mb, "relgeo encoder memory budget in MiB")->capture_default_str();
  c->add_flag("--independent-draws", a->independent,
              "Draw every anchor count's set independently (default: nested prefixes of one draw)");
  c->add_option("--csv", a->csv, "Write every (method, anchors, draw) row as CSV");
  c->add_option("--plot", a->plot, "Write a PNG: MRR vs anchors, one line per method, std shaded");
  c->add_option("--title", a->title, "Plot title");
  c->add_flag("--json", a->json, "Print the summary as JSON");
  c->callback([a] { RunMrr(*a); });
}

struct PlotArgs {
  std::vector<std::string> csv;
  std::string out, title = "MRR vs anchors";
};

void RegisterEvalPlot(CLI::App& app) {
  auto a = std::make_shared<PlotArgs>();
  CLI::App* c = EvalGroup(app)->add_subcommand("plot", "Plot (and summarise) MRR sweep CSVs written by eval mrr");
  c->footer("Example:\n  relgeo eval plot --csv mrr.csv --out mrr.png --title \"conv seed 1 vs 2\"");
  c->add_option("--csv", a->csv, "One or more sweep CSVs (rows are concatenated)")->required()->check(CLI::ExistingFile);
  c->add_option("--out", a->out, "Output PNG")->required();
  c->add_option("--title", a->title, "Plot title")->capture_default_str();
  c->callback([a] {
    std::vector<MrrSweepRow> rows;
    for (const auto& p : a->csv) {
      auto part = OrDie(ReadSweepCsv(p), "--csv");
      rows.insert(rows.end(), part.begin(), part.end());
    }
    OrDie(WritePlotPng(a->out, SweepPlot(rows, a->title)), "--out");
    std::printf("%-11s %8s %10s %9s\n", "method", "anchors", "mrr_mean", "mrr_std");
    for (const auto& s : SummarizeSweep(rows))
      std::printf("%-11s %8lld %10.4f %9.4f\n", s.method.c_str(), static_cast<long long>(s.anchors), s.mean, s.std);
  });
}

const bool registered = RegisterCommand(50, RegisterEvalMrr) && RegisterCommand(51, RegisterEvalPlot);

}  // namespace
}  // namespace relgeo::cli
