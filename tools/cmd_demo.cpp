// relgeo demo: the main job, end to end on Fashion-MNIST.
//   1. trains (or reuses) two autoencoders that differ only in their seed (the
//      paper's conv network by default, a small MLP with --arch mlp);
//   2. registers both in an embedded database with shared anchors (drawn from the
//      validation split) and bulk-indexes model A's test set;
//   3. queries with model B's encodings of the same images and reports MRR, top-1
//      and top-10 for relgeo against cosine relative representations and the
//      linear / orthogonal alignment baselines;
//   4. writes an MRR-vs-anchors plot and an autoencoder stitching image, and says in
//      a sentence or two, computed from the run, which method wins where.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/autoencoder.h"
#include "relgeo/database.h"
#include "relgeo/datasets.h"
#include "relgeo/file_io.h"
#include "relgeo/sweep.h"
#include "relgeo/mrr.h"
#include "relgeo/plot.h"
#include "relgeo/stitching.h"

namespace relgeo::cli {
namespace {
namespace fs = std::filesystem;

struct DemoArgs {
  std::string work = "relgeo-demo", db, arch = "conv";
  int epochs = 3;
  int64_t items = 5000, anchors = 25, sweep_items = 1000;
  uint64_t seed_a = 1, seed_b = 2, seed = 0;
  int steps = 8;
  bool retrain = false, json = false, no_sweep = false;
};

void Say(const char* fmt, const std::string& s = "") {
  if (!Globals().quiet) std::fprintf(stderr, fmt, s.c_str());
}

// Trains one autoencoder, or reuses it when its directory already holds one
// trained with the same settings.
std::string EnsureModel(const DemoArgs& a, uint64_t seed, const ImageDataset& train, const ImageDataset& test) {
  std::ostringstream name;
  name << a.work << "/models/" << a.arch << "-seed" << seed << "-e" << a.epochs;
  const std::string dir = name.str();
  if (!a.retrain && fs::exists(dir + "/encoder.pt") && fs::exists(dir + "/decoder.pt")) {
    Say("reusing the cached autoencoder %s\n", dir);
    return dir;
  }
  AeTrainOptions o;
  o.arch = OrDie(ParseAeArch(a.arch), "--arch");
  o.seed = seed;
  o.epochs = a.epochs;
  const int64_t batches = (train.size() + o.batch_size - 1) / o.batch_size;
  Say("training autoencoder %s (first run only; cached afterwards)\n", dir);
  Progress bar("train seed " + std::to_string(seed), batches * a.epochs, "batches");
  o.on_progress = [&](const AeProgress& p) { bar.Update((p.epoch - 1) * p.batches + p.batch); };
  AeTrainResult r = OrDie(TrainAutoencoder(train.ToMatrix(), test.ToMatrix(), o), "training");
  bar.Finish();
  if (!Globals().quiet) std::fprintf(stderr, "  test reconstruction MSE %.4f in %.0f s\n", r.eval_mse, r.train_seconds);
  // Save next to the cache entry, then rename: an interrupted run never leaves a
  // half-written model that a later run would reuse.
  const std::string tmp = dir + ".partial";
  fs::remove_all(tmp);
  OrDie(SaveAutoencoder(r, tmp), "saving the autoencoder");
  fs::remove_all(dir);
  fs::rename(tmp, dir);
  return dir;
}

struct MethodScore {
  std::string method;
  double mrr = 0, mrr_sym = 0, top1 = 0, top10 = 0;
};

MethodScore Score(const std::string& method, MatrixView queries, MatrixView index) {
  MethodScore s;
  s.method = method;
  auto ranks = OrDie(RetrievalRanks(queries, index, Similarity::kCosine, /*symmetric=*/false), method);
  s.mrr = MrrFromRanks(ranks);
  for (int64_t r : ranks) {
    s.top1 += r == 1;
    s.top10 += r <= 10;
  }
  s.top1 /= static_cast<double>(ranks.size());
  s.top10 /= static_cast<double>(ranks.size());
  s.mrr_sym = MrrFromRanks(OrDie(RetrievalRanks(queries, index, Similarity::kCosine, true), method));
  return s;
}

// Wraps text at `width` columns, each line indented by `indent` spaces.
std::string Wrap(const std::string& text, size_t width, size_t indent) {
  std::istringstream words(text);
  std::string out, line, w;
  while (words >> w) {
    if (!line.empty() && indent + line.size() + 1 + w.size() > width) {
      out += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  if (!line.empty()) out += std::string(indent, ' ') + line + "\n";
  return out;
}

std::string Fixed(double v, int decimals) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

// What the table says, in a sentence or two computed from this run: which method
// wins each retrieval measure and by how much, and which matching stitches best.
std::string Summary(const std::vector<MethodScore>& scores, const AeStitchResult& st) {
  struct Measure {
    const char* name;
    double MethodScore::*field;
  };
  const Measure measures[] = {{"symmetric MRR", &MethodScore::mrr_sym}, {"top-1", &MethodScore::top1},
                              {"top-10", &MethodScore::top10}};
  std::vector<std::string> relgeo_leads, others_lead;
  for (const Measure& m : measures) {
    std::vector<const MethodScore*> order;
    for (const auto& s : scores) order.push_back(&s);
    std::stable_sort(order.begin(), order.end(),
                     [&](const MethodScore* x, const MethodScore* y) { return x->*m.field > y->*m.field; });
    const MethodScore& best = *order[0];
    if (best.method == "relgeo") {
      relgeo_leads.push_back(std::string(m.name) + " " + Fixed(best.*m.field, 3) + " against " +
                             Fixed(order[1]->*m.field, 3) + " (" + order[1]->method + ")");
    } else {
      double relgeo_value = 0;
      for (const auto& s : scores)
        if (s.method == "relgeo") relgeo_value = s.*m.field;
      others_lead.push_back("On " + std::string(m.name) + ", " + best.method + " is ahead (" + Fixed(best.*m.field, 3) +
                            " against " + Fixed(relgeo_value, 3) + " for relgeo).");
    }
  }
  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i)
      out += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
    return out;
  };
  std::string text;
  if (!relgeo_leads.empty()) text = "Model B's queries find model A's items best with relgeo: " + join(relgeo_leads) + ".";
  for (const auto& sentence : others_lead) text += (text.empty() ? "" : " ") + sentence;
  const std::pair<const char*, double> stitch[] = {{"relgeo", st.mse_relgeo}, {"cosine", st.mse_cosine},
                                                   {"anchors-only linear", st.mse_anchors_linear}, {"no transform", st.mse_none}};
  const auto* best = &stitch[0];
  for (const auto& e : stitch)
    if (e.second < best->second) best = &e;
  const auto* second = best == &stitch[0] ? &stitch[1] : &stitch[0];
  for (const auto& e : stitch)
    if (&e != best && e.second < second->second) second = &e;
  text += std::string(" Stitching decodes best with ") + best->first + " matches (MSE " + Fixed(best->second, 4) +
          " against " + Fixed(second->second, 4) + " with " + second->first + ").";
  return text;
}

void RunDemo(DemoArgs a) {
  const auto t0 = std::chrono::steady_clock::now();
  CheckFlag<int64_t>("--epochs", a.epochs, 1, kMaxEpochs, "training epochs per autoencoder");
  CheckFlag<int64_t>("--items", a.items, 1, 10000, "test images indexed and queried");
  CheckFlag<int64_t>("--anchor-count", a.anchors, 1, kMaxAnchors, "anchors");
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  CheckFlag<int64_t>("--sweep-items", a.sweep_items, 1, 10000, "images of the MRR sweep and stitching");
  if (a.db.empty()) a.db = a.work + "/db";
  fs::create_directories(a.work);

  // ---- data and models
  ImageDataset train = OrDie(LoadFashionMnist(DataSplit::kTrain), "loading Fashion-MNIST (install dataset-fashion-mnist)");
  ImageDataset val = OrDie(LoadFashionMnist(DataSplit::kVal));
  ImageDataset test = OrDie(LoadFashionMnist(DataSplit::kTest));
  if (a.items < test.size()) {
    std::vector<int64_t> first(a.items);
    for (int64_t i = 0; i < a.items; ++i) first[i] = i;
    test = test.Subset(first);
  }
  const std::string dir_a = EnsureModel(a, a.seed_a, train, test);
  const std::string dir_b = EnsureModel(a, a.seed_b, train, test);
  Matrix test_px = test.ToMatrix(), val_px = val.ToMatrix();
  Matrix za = OrDie(EncodeImages(dir_a + "/encoder.pt", test_px)), zb = OrDie(EncodeImages(dir_b + "/encoder.pt", test_px));
  Matrix pa = OrDie(EncodeImages(dir_a + "/encoder.pt", val_px)), pb = OrDie(EncodeImages(dir_b + "/encoder.pt", val_px));

  // ---- anchors: K validation images, encoded by both models in the same order
  std::vector<int64_t> anchor_rows = OrDie(SelectAnchors(pa, a.anchors, AnchorSelection::kUniform, a.seed), "--anchor-count");
  Matrix anchors_a = GatherRows(pa, anchor_rows), anchors_b = GatherRows(pb, anchor_rows);
  std::vector<int64_t> anchor_ids;
  for (int64_t r : anchor_rows) anchor_ids.push_back(val.indices[r]);

  // ---- the database: a fresh demo collection each run
  auto db = OrDie(Database::Open(a.db), "--db");
  for (const auto& c : OrDie(db->ListCollections()))
    if (c.name == "fashion-test") OrDie(db->DropCollection(c.name));
  for (const auto& m : OrDie(db->ListModels()))
    if (m.name == "ae-a" || m.name == "ae-b") OrDie(db->DropModel(m.name));
  for (const auto& s : OrDie(db->ListAnchorSets()))
    if (s.name == "demo-anchors") OrDie(db->DropAnchorSet(s.name));
  OrDie(db->CreateAnchorSet("demo-anchors", anchor_ids));
  for (auto [name, dir, anchors] : {std::tuple{"ae-a", dir_a, &anchors_a}, std::tuple{"ae-b", dir_b, &anchors_b}}) {
    ModelSpec spec;
    spec.name = name;
    spec.map_bytes = OrDie(ReadFileBytes(dir + "/decoder.pt", kMaxMapFileBytes));
    spec.encoder_bytes = OrDie(ReadFileBytes(dir + "/encoder.pt", kMaxMapFileBytes));
    spec.anchor_set = "demo-anchors";
    spec.anchor_latents = *anchors;
    OrDie(db->RegisterModel(spec), std::string("registering ") + name);
  }
  CollectionOptions co;
  co.anchor_set = "demo-anchors";
  co.steps = a.steps;
  OrDie(db->CreateCollection("fashion-test", co));
  Progress bar("index (model A)", za.rows(), "items");
  BulkOptions bo;
  bo.batch_size = 1000;
  bo.total = za.rows();
  bo.progress = [&](const BulkProgress& p) { bar.Update(p.done); return true; };
  BulkStats bulk = OrDie(db->BulkAdd("fashion-test", "ae-a", test.indices, za, bo), "indexing");
  bar.Finish();

  // ---- cross-model queries: model B's encodings searched in what model A indexed
  Progress qbar("search (model B)", zb.rows(), "queries");
  Matrix rep_b = OrDie(db->Encode("ae-b", "demo-anchors", zb, EncoderOptions{a.steps}));
  int64_t db_top1 = 0, db_top10 = 0;
  const int64_t qchunk = 1000;
  for (int64_t q0 = 0; q0 < rep_b.rows(); q0 += qchunk) {
    const int64_t q = std::min(qchunk, rep_b.rows() - q0);
    SearchResults res = OrDie(db->SearchRepresentations("fashion-test", rep_b.view().RowSlice(q0, q), 10));
    for (int64_t i = 0; i < q; ++i) {
      const int64_t want = test.indices[q0 + i];
      db_top1 += res.row_ids(i)[0] == want;
      for (int64_t j = 0; j < 10; ++j) db_top10 += res.row_ids(i)[j] == want;
    }
    qbar.Update(q0 + q);
  }
  qbar.Finish();

  // Full-rank scores for every method on the same queries.
  Matrix rep_a(za.rows(), a.anchors);
  for (int64_t i = 0; i < za.rows(); ++i) {
    Item it = OrDie(db->Get("fashion-test", test.indices[i]));
    std::copy(it.representation.begin(), it.representation.end(), rep_a.row(i));
  }
  std::vector<MethodScore> scores;
  scores.push_back(Score("relgeo", rep_b, rep_a));
  CosineEncoder cos_a = OrDie(CosineEncoder::Create(anchors_a)), cos_b = OrDie(CosineEncoder::Create(anchors_b));
  scores.push_back(Score("cosine", OrDie(cos_b.Encode(zb)), OrDie(cos_a.Encode(za))));
  for (AlignMethod m : {AlignMethod::kLinear, AlignMethod::kOrthogonal}) {
    Alignment al = OrDie(Alignment::Fit(m, anchors_b, anchors_a));
    scores.push_back(Score(AlignMethodName(m), OrDie(al.SourceToShared(zb)), OrDie(al.TargetToShared(za))));
  }
  scores.push_back(Score("absolute", zb, za));

  // ---- figures: MRR vs anchors, and autoencoder stitching
  const int64_t ns = std::min<int64_t>(a.sweep_items, za.rows());
  const std::string plot_path = a.work + "/mrr_vs_anchors.png", csv_path = a.work + "/mrr_vs_anchors.csv";
  const std::string stitch_path = a.work + "/stitching.png";
  auto map_a = OrDie(MetricMap::Load(dir_a + "/decoder.pt")), map_b = OrDie(MetricMap::Load(dir_b + "/decoder.pt"));
  if (!a.no_sweep) {
    MrrSweepInputs si;
    si.map_a = map_a;
    si.map_b = map_b;
    si.latents_a = za.view().RowSlice(0, ns);
    si.latents_b = zb.view().RowSlice(0, ns);
    si.pool_a = pa;
    si.pool_b = pb;
    MrrSweepOptions so;
    so.anchor_counts = {2, 3, 5, 10, 25};
    if (a.anchors > 25) so.anchor_counts.push_back(a.anchors);
    so.draws = 3;
    so.seed = a.seed;
    so.encoder.steps = a.steps;
    // One progress line for the whole sweep: per draw, relgeo encodes the rows in
    // both spaces (stages "relgeo A", "relgeo B") and then scores every anchor count.
    const int64_t sweep_total = so.draws * (2 * ns + static_cast<int64_t>(so.anchor_counts.size()));
    Progress sbar("MRR sweep", sweep_total, "steps");
    std::string stage;
    int64_t offset = 0, stage_total = 0;
    so.on_progress = [&](const SweepProgress& p) {
      if (p.stage != stage) {
        offset += stage_total;
        stage = p.stage;
        stage_total = p.total;
      }
      sbar.Update(std::min(sweep_total, offset + p.done));
    };
    auto rows = OrDie(RunMrrSweep(si, so), "MRR sweep");
    sbar.Finish();
    OrDie(WriteSweepCsv(csv_path, rows));
    OrDie(WritePlotPng(plot_path, SweepPlot(rows, "Fashion-MNIST AEs (seeds " + std::to_string(a.seed_a) + ", " +
                                                      std::to_string(a.seed_b) + "): symmetric MRR vs anchors")));
  }
  AeStitchInputs st;
  st.decoder_a = map_a;
  st.decoder_b = map_b;
  st.latents_a = za.view().RowSlice(0, ns);
  st.latents_b = zb.view().RowSlice(0, ns);
  st.images = test_px.view().RowSlice(0, ns);
  AeStitchOptions sto;
  sto.seed = a.seed;
  sto.steps = a.steps;
  Say("stitching: matching %s samples through 5 anchors\n", std::to_string(ns));
  AeStitchResult stitch = OrDie(StitchAutoencoders(st, sto), "stitching");
  OrDie(WriteStitchGridPng(stitch_path, stitch, 28, 28, 3));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // ---- report
  nlohmann::json j;
  j["items"] = za.rows();
  j["anchors"] = a.anchors;
  j["steps"] = a.steps;
  j["models"] = {dir_a, dir_b};
  j["database"] = a.db;
  j["database_search"] = {{"top1", double(db_top1) / za.rows()}, {"top10", double(db_top10) / za.rows()}};
  j["index_seconds"] = {{"encode", bulk.encode_seconds}, {"store", bulk.store_seconds}, {"index", bulk.index_seconds}};
  for (const auto& s : scores)
    j["methods"][s.method] = {{"mrr", s.mrr}, {"mrr_symmetric", s.mrr_sym}, {"top1", s.top1}, {"top10", s.top10}};
  j["stitching_mse"] = {{"none", stitch.mse_none}, {"anchors_linear", stitch.mse_anchors_linear},
                        {"cosine", stitch.mse_cosine}, {"relgeo", stitch.mse_relgeo}};
  j["files"] = {{"stitching", stitch_path}};
  if (!a.no_sweep) j["files"]["mrr_plot"] = plot_path, j["files"]["mrr_csv"] = csv_path;
  j["seconds"] = secs;
  const std::string summary = Summary(scores, stitch);
  j["summary"] = summary;
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("\nCross-model retrieval on Fashion-MNIST: %lld test images indexed by model A (seed %llu),\n"
              "queried with model B's (seed %llu) encodings of the same images; %lld anchors, %d steps.\n\n",
              static_cast<long long>(za.rows()), static_cast<unsigned long long>(a.seed_a),
              static_cast<unsigned long long>(a.seed_b), static_cast<long long>(a.anchors), a.steps);
  std::printf("  %-11s %8s %10s %8s %8s\n", "method", "MRR", "MRR (sym)", "top-1", "top-10");
  for (const auto& s : scores)
    std::printf("  %-11s %8.4f %10.4f %8.4f %8.4f\n", s.method.c_str(), s.mrr, s.mrr_sym, s.top1, s.top10);
  std::printf("\n  database search (FAISS Flat over RocksDB): top-1 %.4f, top-10 %.4f\n", double(db_top1) / za.rows(),
              double(db_top10) / za.rows());
  std::printf("  stitching MSE (D_B(T z_A)): none %.4f, anchors-only linear %.4f, cosine %.4f, relgeo %.4f\n",
              stitch.mse_none, stitch.mse_anchors_linear, stitch.mse_cosine, stitch.mse_relgeo);
  std::printf("\n%s", Wrap(summary, 100, 2).c_str());
  std::printf("\n  database:  %s\n", a.db.c_str());
  if (!a.no_sweep) std::printf("  MRR plot:  %s (data: %s)\n", plot_path.c_str(), csv_path.c_str());
  std::printf("  stitching: %s\n  done in %.0f s\n", stitch_path.c_str(), secs);
}

void RegisterDemo(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* c = app.add_subcommand("demo", "The main job: cross-model retrieval on Fashion-MNIST, end to end");
  c->footer(
      "Trains (first run) or reuses two autoencoders that differ only in seed, indexes model A's\n"
      "test set in an embedded database, queries it with model B and compares methods.\n"
      "Defaults: the paper's conv autoencoder (its Table 6 network, the setting of its Fashion-MNIST\n"
      "results), 3 epochs, 25 anchors, 8 steps; docs/cli.md says why.\n"
      "Examples:\n"
      "  relgeo demo                       # everything under ./relgeo-demo\n"
      "  relgeo demo --arch mlp --epochs 5 --work runs/demo-mlp\n"
      "  relgeo demo --items 2000 --no-sweep --json");
  c->add_option("--work", a->work, "Directory for models, database and figures")->capture_default_str();
  c->add_option("--db", a->db, "Database directory (default: WORK/db)");
  c->add_option("--arch", a->arch, "Autoencoder: mlp | conv (the paper's Table 6)")->capture_default_str();
  c->add_option("--epochs", a->epochs, "Training epochs per autoencoder")->capture_default_str();
  c->add_option("--items", a->items, "Test images indexed and queried (<= 10000)")->capture_default_str();
  c->add_option("--anchor-count,--anchors", a->anchors, "Anchors K, drawn uniformly from the validation split (--anchors: the older spelling, still accepted)")->capture_default_str();
  c->add_option("--steps", a->steps, "Straight-line steps N")->capture_default_str();
  c->add_option("--sweep-items", a->sweep_items, "Images used for the MRR sweep and stitching")->capture_default_str();
  c->add_option("--seed-a", a->seed_a, "Seed of model A")->capture_default_str();
  c->add_option("--seed-b", a->seed_b, "Seed of model B")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of anchor draws")->capture_default_str();
  c->add_flag("--retrain", a->retrain, "Train the autoencoders even when cached");
  c->add_flag("--no-sweep", a->no_sweep, "Skip the MRR-vs-anchors plot");
  c->add_flag("--json", a->json, "Print the results as one JSON document on stdout");
  // `relgeo demo text` (cmd_demo_text.cpp) is a subcommand of this one: run only one of them.
  c->callback([a, c] {
    if (c->get_subcommands().empty()) RunDemo(*a);
  });
}

const bool registered = RegisterCommand(1, RegisterDemo);

}  // namespace
}  // namespace relgeo::cli
