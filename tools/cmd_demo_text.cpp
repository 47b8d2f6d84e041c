// relgeo demo text: relgeo between two *different* pretrained sentence encoders
// (all-MiniLM-L6-v2, 384-d, and all-mpnet-base-v2, 768-d) on real labelled text
// (Debian's fortune databases, one class per topic), the setting of the paper's
// foundation-model Tables 1-2 (docs/text.md):
//   1. embeds the corpus with both models through tools/text/embed_corpus.py (the
//      project's .venv; cached as .npy, first run only);
//   2. trains per model a DIET head and a classifier head on the frozen training
//      embeddings (what `relgeo heads train` does);
//   3. for each anchor draw (anchors from the validation split): relgeo through the
//      DIET head (sphere) and through the classifier logits (euclidean, fisher),
//      cosine relative representations, linear and orthogonal alignment and the raw
//      embeddings; symmetric cross-model MRR and top-1 on the test split, and
//      zero-shot stitching accuracy (a classifier trained on one model's
//      representations of the training split, tested on the other model's);
//   4. an MRR-vs-anchors sweep (CSV and PNG) over the anchor grid.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "child_process.h"
#include "cli_common.h"
#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/file_io.h"
#include "relgeo/heads.h"
#include "relgeo/mrr.h"
#include "relgeo/npy.h"
#include "relgeo/plot.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/stitching.h"
#include "relgeo/sweep.h"

#ifndef RELGEO_SOURCE_DIR
#define RELGEO_SOURCE_DIR "."
#endif

namespace relgeo::cli {
namespace {
namespace fs = std::filesystem;

struct TextArgs {
  std::string work = "relgeo-demo-text", python, script, anchor_counts = "10,25,50,100,300";
  int64_t sentences = 5000, diet_points = 0, stitch_train = 1000;  // diet_points 0: every val and training text
  int draws = 2, steps = 8, heads = 3, epochs = 10;
  uint64_t seed = 0, split_seed = 0;
  bool reembed = false, json = false, no_plot = false;
};

void Say(const std::string& s) {
  if (!Globals().quiet) std::fprintf(stderr, "%s\n", s.c_str());
}

// The corpus embeddings of both models, made by the Python script when the cache
// (its meta.json, written last) is missing.
nlohmann::json EnsureEmbeddings(const TextArgs& a, const std::string& dir) {
  const std::string meta = dir + "/meta.json";
  if (a.reembed || !fs::exists(meta)) {
    std::string python = a.python;
    if (python.empty() && std::getenv("RELGEO_PYTHON")) python = std::getenv("RELGEO_PYTHON");
    if (python.empty()) python = std::string(RELGEO_SOURCE_DIR) + "/.venv/bin/python";
    const std::string script = a.script.empty() ? std::string(RELGEO_SOURCE_DIR) + "/tools/text/embed_corpus.py" : a.script;
    if (!fs::exists(python))
      throw CommandError{Status::FailedPrecondition("no Python at " + python +
                                                    ": run tools/setup.sh (its .venv has the text models) or pass --python")};
    if (!fs::exists(script)) throw CommandError{Status::NotFound("no embedding script at " + script + " (--script)")};
    fs::create_directories(dir);
    const std::string err = dir + "/embed-error.txt";
    fs::remove(err);
    Say("embedding the corpus with both models (first run only; cached in " + dir + ")");
    std::vector<std::string> argv = {python, script, "--out", dir, "--limit", std::to_string(a.sentences),
                                     "--seed", std::to_string(a.split_seed), "--threads",
                                     std::to_string(Globals().threads), "--error-file", err};
    if (Globals().quiet) argv.push_back("--quiet");
    const int rc = RunChild(argv);
    if (rc != 0 || !fs::exists(meta)) {
      std::string line;
      std::ifstream in(err);
      std::getline(in, line);
      throw CommandError{Status::FailedPrecondition(
          line.empty() ? "embedding the corpus failed (" + python + " " + script + ", status " + std::to_string(rc) + ")"
                       : line)};
    }
  }
  auto bytes = OrDie(ReadFileBytes(meta, 1 << 20), "the embedding cache");
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_array() || j["files"].size() != 2 ||
      !j.contains("models") || !j.contains("classes"))
    throw CommandError{Status::Corruption(meta + " is not an embedding cache's meta.json (rerun with --reembed)")};
  return j;
}

// One model's side: embeddings of the three splits and its two heads.
struct Side {
  std::string name;
  Matrix train, val, test, stitch_train;
  std::shared_ptr<MetricMap> diet, logits_l2, logits_fisher;
  double head_test_accuracy = 0;
};

std::shared_ptr<MetricMap> MapFrom(const std::string& bytes, OutputDistance d, int64_t dim) {
  MetricMapOptions mo;
  mo.distance = d;
  mo.input_dim = dim;
  return OrDie(MetricMap::FromBytes(bytes, mo), "loading a head");
}

// The DIET and classifier heads of one model, trained on its frozen training
// embeddings with the library's TrainDietHead / TrainClassifierHead (the code of
// `relgeo heads train`) and saved under WORK/heads/ for reuse with other commands.
void TrainHeads(Side& s, const std::vector<int64_t>& y_train, const std::vector<int64_t>& y_test, const TextArgs& a,
                int64_t classes) {
  fs::create_directories(a.work + "/heads");
  HeadTrainOptions o;
  o.seed = a.seed;
  std::unique_ptr<Progress> bar;
  o.on_epoch = [&](int e, int, double) { bar->Update(e); };
  o.epochs = 50;  // the paper's DIET epochs
  bar = std::make_unique<Progress>("DIET head " + s.name, o.epochs, "epochs");
  // DIET points: the val texts (where the paper takes them, so the anchors are among
  // them), then the training texts; more points make a better head (the paper's
  // Fig. 16; docs/text.md measures both choices).
  const int64_t all = s.val.rows() + s.train.rows();
  const int64_t p = a.diet_points == 0 ? all : std::min(a.diet_points, all);
  const int64_t from_val = std::min(p, s.val.rows());
  Matrix points(p, s.train.cols());
  std::copy(s.val.data(), s.val.data() + from_val * s.val.cols(), points.data());
  std::copy(s.train.data(), s.train.data() + (p - from_val) * s.train.cols(), points.row(from_val));
  HeadTrainResult diet = OrDie(TrainDietHead(points, o), "DIET head");
  bar->Finish();
  o.epochs = 10;  // the paper's classifier epochs
  bar = std::make_unique<Progress>("classifier head " + s.name, o.epochs, "epochs");
  HeadTrainResult clf = OrDie(TrainClassifierHead(s.train, y_train, o, classes), "classifier head");
  bar->Finish();
  OrDie(WriteFileAtomically(a.work + "/heads/" + s.name + "-diet.pt", {diet.map_bytes}));
  OrDie(WriteFileAtomically(a.work + "/heads/" + s.name + "-classifier.pt", {clf.map_bytes}));
  s.head_test_accuracy = OrDie(ClassifierAccuracy(clf.map_bytes, s.test, y_test), "classifier head");
  s.diet = MapFrom(diet.map_bytes, OutputDistance::kSphere, s.train.cols());
  s.logits_l2 = MapFrom(clf.map_bytes, OutputDistance::kEuclidean, s.train.cols());
  s.logits_fisher = MapFrom(clf.map_bytes, OutputDistance::kFisher, s.train.cols());
}

// A method's representations of the training and test splits in both models.
struct Reps {
  Matrix train_a, test_a, train_b, test_b;
};

struct Score {
  std::string method, label;
  bool available = true;
  double mrr_sym = 0, top1 = 0, stitch_acc = 0, stitch_ab = 0, stitch_ba = 0;
  double own_acc = 0;  // the same classifiers on their own model's test representations: stitching's ceiling
  double seconds = 0;  // representations (all anchor counts) and stitching, over all draws
};

Matrix EncodeRows(const RelativeEncoder& e, const Matrix& z) { return OrDie(e.Encode(z), "relgeo"); }

// The first k columns of m (the representation for the first k anchors).
Matrix LeftColumns(const Matrix& m, int64_t k) {
  Matrix out(m.rows(), k);
  for (int64_t r = 0; r < m.rows(); ++r) std::copy(m.row(r), m.row(r) + k, out.row(r));
  return out;
}

// Scores one method for one anchor draw: model B's test representations query model
// A's (top-1; symmetric MRR as the paper's headline), and stitching in both directions
// (with each classifier's accuracy on its own model's test representations beside it).
void Accumulate(Score& s, const Reps& r, const std::vector<int64_t>& y_train, const std::vector<int64_t>& y_test,
                const StitchHeadOptions& so, int draws) {
  auto asym = OrDie(RetrievalRanks(r.test_b, r.test_a, Similarity::kCosine, /*symmetric=*/false), s.method);
  double top1 = 0;
  for (int64_t rank : asym) top1 += rank == 1;
  s.top1 += top1 / static_cast<double>(asym.size()) / draws;
  s.mrr_sym += MrrFromRanks(OrDie(RetrievalRanks(r.test_b, r.test_a, Similarity::kCosine, true), s.method)) / draws;
  const auto ab = OrDie(StitchClassifier(r.train_a, y_train, r.test_b, y_test, r.test_a, so), s.method);
  const auto ba = OrDie(StitchClassifier(r.train_b, y_train, r.test_a, y_test, r.test_b, so), s.method);
  s.stitch_ab += ab.stitched_mean / draws;
  s.stitch_ba += ba.stitched_mean / draws;
  s.stitch_acc += (ab.stitched_mean + ba.stitched_mean) / 2 / draws;
  s.own_acc += (ab.own_mean + ba.own_mean) / 2 / draws;
}

std::string Fixed(double v, int decimals) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

void RunText(TextArgs a) {
  const auto t0 = std::chrono::steady_clock::now();
  CheckFlag<int64_t>("--sentences", a.sentences, 0, kMaxRowLimit, "0 = the whole corpus");
  if (a.diet_points != 0)
    CheckFlag<int64_t>("--diet-points", a.diet_points, 2, kMaxDietPoints, "DIET points; 0 = every val and training text");
  CheckFlag<int64_t>("--draws", a.draws, 1, kMaxDraws, "anchor draws");
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  CheckFlag<int64_t>("--heads", a.heads, 1, kMaxHeads, "stitching heads averaged");
  CheckFlag<int64_t>("--epochs", a.epochs, 1, kMaxEpochs, "stitching head epochs");
  CheckFlag<int64_t>("--stitch-train", a.stitch_train, 0, kMaxRowLimit, "stitching training rows; 0 = all");
  const std::vector<int64_t> counts = ParseAnchorCounts(a.anchor_counts);
  const int64_t k_max = *std::max_element(counts.begin(), counts.end());
  fs::create_directories(a.work);

  // ---- embeddings (cached) and labels
  const std::string cache = a.work + "/embeddings-n" + std::to_string(a.sentences) + "-s" + std::to_string(a.split_seed);
  nlohmann::json meta = EnsureEmbeddings(a, cache);
  const std::vector<std::string> files = meta["files"].get<std::vector<std::string>>();
  const std::vector<std::string> models = meta["models"].get<std::vector<std::string>>();
  const int64_t classes = static_cast<int64_t>(meta["classes"].size());
  auto labels = [&](const char* split) { return OrDie(ReadNpyInt64(cache + "/labels_" + split + ".npy"), "the embedding cache"); };
  std::vector<int64_t> y_train = labels("train"), y_test = labels("test");
  Side sides[2];
  for (int m = 0; m < 2; ++m) {
    auto load = [&](const char* split) {
      return OrDie(ReadNpyMatrix(cache + "/" + files[m] + "_" + split + ".npy"), "the embedding cache");
    };
    sides[m].name = files[m];
    sides[m].train = load("train");
    sides[m].val = load("val");
    sides[m].test = load("test");
  }
  Side& A = sides[0];
  Side& B = sides[1];
  if (A.val.rows() < k_max)
    throw CommandError{Status::InvalidArgument("--anchor-counts: " + std::to_string(k_max) + " anchors but the validation split has " +
                                               std::to_string(A.val.rows()) + " texts (raise --sentences)")};
  for (Side& s : sides) TrainHeads(s, y_train, y_test, a, classes);
  // The stitching classifiers train on the first --stitch-train training texts (relgeo
  // encodes each of them against every anchor, for every draw and variant).
  const int64_t n_stitch = a.stitch_train > 0 ? std::min(a.stitch_train, A.train.rows()) : A.train.rows();
  for (Side& s : sides) s.stitch_train = Matrix::CopyOf(s.train.view().RowSlice(0, n_stitch));
  const std::vector<int64_t> y_stitch(y_train.begin(), y_train.begin() + n_stitch);

  // ---- every method, every draw: representations at the largest anchor count K;
  // the sweep's smaller counts are their first k columns (SelectAnchors' uniform
  // draws are nested, and a relative representation's column depends on its anchor
  // only); the alignments are refitted on the first k anchors.
  struct Method {
    const char* name;
    const char* label;
    std::shared_ptr<MetricMap> Side::*map;  // relgeo variants
    std::optional<AlignMethod> align;       // alignment baselines
  };
  const Method methods[] = {
      {"relgeo", "relgeo (DIET, sphere)", &Side::diet, std::nullopt},
      {"relgeo-l2", "relgeo (logits, L2)", &Side::logits_l2, std::nullopt},
      {"relgeo-fisher", "relgeo (logits, Fisher)", &Side::logits_fisher, std::nullopt},
      {"cosine", "cosine", nullptr, std::nullopt},
      {"linear", "linear alignment", nullptr, AlignMethod::kLinear},
      {"orthogonal", "orthogonal alignment", nullptr, AlignMethod::kOrthogonal},
      {"raw", "raw embeddings", nullptr, AlignMethod::kAbsolute},
  };
  std::vector<Score> scores;
  for (const Method& m : methods) scores.push_back(Score{m.name, m.label});
  const bool same_dim = A.train.cols() == B.train.cols();
  StitchHeadOptions so;
  so.heads = a.heads;
  so.epochs = a.epochs;
  EncoderOptions eo;
  eo.steps = a.steps;
  std::vector<MrrSweepRow> sweep;
  Progress bar("methods x draws", a.draws * static_cast<int64_t>(std::size(methods)), "runs");
  int64_t done = 0;
  for (int d = 0; d < a.draws; ++d) {
    const auto rows = OrDie(SelectAnchors(A.val, k_max, AnchorSelection::kUniform, a.seed + d), "anchors");
    const Matrix anchors_a = GatherRows(A.val, rows), anchors_b = GatherRows(B.val, rows);
    so.seed = a.seed + d;
    for (size_t i = 0; i < std::size(methods); ++i) {
      const Method& m = methods[i];
      bar.Update(done++);
      if (m.align == AlignMethod::kAbsolute && !same_dim) {
        scores[i].available = false;  // 384-d and 768-d embeddings cannot be compared as they are
        continue;
      }
      // Representations for k anchors (k = K: also of the training rows, for stitching).
      auto reps_for = [&](int64_t k, bool with_train) {
        Reps r;
        const Matrix ka = Matrix::CopyOf(anchors_a.view().RowSlice(0, k)), kb = Matrix::CopyOf(anchors_b.view().RowSlice(0, k));
        if (m.map) {
          auto ea = OrDie(RelativeEncoder::Create(A.*m.map, ka, eo), m.name);
          auto eb = OrDie(RelativeEncoder::Create(B.*m.map, kb, eo), m.name);
          r.test_a = EncodeRows(*ea, A.test), r.test_b = EncodeRows(*eb, B.test);
          if (with_train) r.train_a = EncodeRows(*ea, A.stitch_train), r.train_b = EncodeRows(*eb, B.stitch_train);
        } else if (!m.align) {
          CosineEncoder ca = OrDie(CosineEncoder::Create(ka)), cb = OrDie(CosineEncoder::Create(kb));
          r.test_a = OrDie(ca.Encode(A.test)), r.test_b = OrDie(cb.Encode(B.test));
          if (with_train) r.train_a = OrDie(ca.Encode(A.stitch_train)), r.train_b = OrDie(cb.Encode(B.stitch_train));
        } else {
          // Model B is the source, A the target (B's queries search A's items); the
          // stitching classifiers of both sides see the shared space.
          Alignment al = OrDie(Alignment::Fit(*m.align, kb, ka), m.name);
          r.test_a = OrDie(al.TargetToShared(A.test)), r.test_b = OrDie(al.SourceToShared(B.test));
          if (with_train)
            r.train_a = OrDie(al.TargetToShared(A.stitch_train)), r.train_b = OrDie(al.SourceToShared(B.stitch_train));
        }
        return r;
      };
      const auto m0 = std::chrono::steady_clock::now();
      const Reps full = reps_for(k_max, true);
      Accumulate(scores[i], full, y_stitch, y_test, so, a.draws);
      for (int64_t k : counts) {
        MrrSweepRow row;
        row.method = m.name;
        row.anchors = k;
        row.draw = d;
        if (k == k_max || m.align == AlignMethod::kAbsolute) {
          row.mrr = OrDie(MrrAllVariants(full.test_a, full.test_b), m.name);
        } else if (m.align) {
          const Reps r = reps_for(k, false);
          row.mrr = OrDie(MrrAllVariants(r.test_a, r.test_b), m.name);
        } else {
          row.mrr = OrDie(MrrAllVariants(LeftColumns(full.test_a, k), LeftColumns(full.test_b, k)), m.name);
        }
        sweep.push_back(row);
      }
      scores[i].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - m0).count();
    }
  }
  bar.Finish();
  const std::string csv_path = a.work + "/mrr_vs_anchors.csv", plot_path = a.work + "/mrr_vs_anchors.png";
  if (!a.no_plot) {
    OrDie(WriteSweepCsv(csv_path, sweep));
    OrDie(WritePlotPng(plot_path, SweepPlot(sweep, "Fortunes: " + models[0] + " vs " + models[1] +
                                                       ", symmetric MRR vs anchors")));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // ---- report
  nlohmann::json j;
  j["models"] = models;
  j["dims"] = {A.train.cols(), B.train.cols()};
  j["corpus"] = meta.value("corpus", "");
  j["classes"] = meta["classes"];
  j["sizes"] = {{"train", A.train.rows()}, {"val", A.val.rows()}, {"test", A.test.rows()}};
  j["anchors"] = k_max;
  j["draws"] = a.draws;
  j["steps"] = a.steps;
  j["head_test_accuracy"] = {{models[0], A.head_test_accuracy}, {models[1], B.head_test_accuracy}};
  for (const Score& s : scores) {
    nlohmann::json r = {{"method", s.method}};
    if (s.available) {
      r["mrr_sym"] = s.mrr_sym, r["top1"] = s.top1, r["stitch_acc"] = s.stitch_acc;
      r["stitch_acc_a_to_b"] = s.stitch_ab, r["stitch_acc_b_to_a"] = s.stitch_ba, r["own_acc"] = s.own_acc;
      r["seconds"] = s.seconds;
    } else {
      r["mrr_sym"] = nullptr, r["top1"] = nullptr, r["stitch_acc"] = nullptr;
      r["note"] = "embedding dimensions differ (" + std::to_string(A.train.cols()) + " vs " +
                  std::to_string(B.train.cols()) + ")";
    }
    j["results"].push_back(r);
  }
  for (const MrrSummaryRow& r : SummarizeSweep(sweep))
    j["sweep"].push_back({{"method", r.method}, {"anchors", r.anchors}, {"mrr_sym", r.mean}, {"std", r.std}});
  if (!a.no_plot) j["files"] = {{"mrr_plot", plot_path}, {"mrr_csv", csv_path}};
  j["embeddings"] = cache;
  j["seconds"] = secs;
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("\nCross-model retrieval and stitching on real text: Debian fortunes, %lld topics;\n"
              "%lld train / %lld val / %lld test texts. Model A %s (%lld-d), model B %s (%lld-d).\n"
              "%lld anchors from val, %d steps, means over %d anchor draws; heads' test accuracy A %.3f, B %.3f.\n\n",
              static_cast<long long>(classes), static_cast<long long>(A.train.rows()),
              static_cast<long long>(A.val.rows()), static_cast<long long>(A.test.rows()), models[0].c_str(),
              static_cast<long long>(A.train.cols()), models[1].c_str(), static_cast<long long>(B.train.cols()),
              static_cast<long long>(k_max), a.steps, a.draws, A.head_test_accuracy, B.head_test_accuracy);
  std::printf("  %-24s %10s %8s %11s %9s\n", "method", "MRR (sym)", "top-1", "stitch acc", "own acc");
  for (const Score& s : scores) {
    if (s.available)
      std::printf("  %-24s %10.4f %8.4f %11.4f %9.4f\n", s.label.c_str(), s.mrr_sym, s.top1, s.stitch_acc, s.own_acc);
    else
      std::printf("  %-24s %10s %8s %11s %9s  (%lld-d vs %lld-d)\n", s.label.c_str(), "-", "-", "-", "-",
                  static_cast<long long>(A.train.cols()), static_cast<long long>(B.train.cols()));
  }
  const Score& relgeo = scores[0];
  const Score& cosine = scores[3];
  // Compared as printed (4 decimals), so that the words agree with the numbers.
  auto order = [](double x, double y) {
    const std::string fx = Fixed(x, 4), fy = Fixed(y, 4);
    return fx == fy ? "equal" : x > y ? "higher" : "lower";
  };
  std::printf("\n  relgeo (DIET) against cosine: MRR %s (%s vs %s), stitching %s (%s vs %s).\n",
              order(relgeo.mrr_sym, cosine.mrr_sym), Fixed(relgeo.mrr_sym, 4).c_str(), Fixed(cosine.mrr_sym, 4).c_str(),
              order(relgeo.stitch_acc, cosine.stitch_acc), Fixed(relgeo.stitch_acc, 4).c_str(),
              Fixed(cosine.stitch_acc, 4).c_str());
  if (!a.no_plot) std::printf("  MRR plot:  %s (data: %s)\n", plot_path.c_str(), csv_path.c_str());
  std::printf("  done in %.0f s\n", secs);
}

void RegisterDemoText(CLI::App& app) {
  CLI::App* demo = app.get_subcommand("demo");
  auto a = std::make_shared<TextArgs>();
  CLI::App* c = demo->add_subcommand("text", "Two different pretrained text encoders on real labelled text");
  c->footer(
      "Embeds Debian's fortunes (8 topics; apt package fortunes) with all-MiniLM-L6-v2 and all-mpnet-base-v2\n"
      "(their PyPI packages, in the .venv of tools/setup.sh; cached in WORK/embeddings-*), trains a DIET and\n"
      "a classifier head per model, and compares relgeo (DIET: sphere; logits: L2, Fisher) with cosine\n"
      "relative representations, linear/orthogonal alignment and raw embeddings: symmetric MRR and top-1\n"
      "of model B's test texts against model A's, and zero-shot stitching accuracy (both directions).\n"
      "docs/text.md has the numbers. Examples:\n"
      "  relgeo demo text                      # everything under ./relgeo-demo-text\n"
      "  relgeo demo text --sentences 2000 --anchor-counts 10,50 --draws 1 --no-plot --json");
  c->add_option("--work", a->work, "Directory for the embedding cache, heads and figures")->capture_default_str();
  c->add_option("--python", a->python, "Python with the text models (default: $RELGEO_PYTHON, else <repo>/.venv/bin/python)");
  c->add_option("--script", a->script, "Embedding script (default: <repo>/tools/text/embed_corpus.py)");
  c->add_option("--sentences", a->sentences, "Texts drawn from the corpus (0 = all of its 9,081 sentences)")->capture_default_str();
  c->add_option("--anchor-counts", a->anchor_counts, "Anchor grid of the sweep; the table uses the largest")->capture_default_str();
  c->add_option("--draws", a->draws, "Anchor draws averaged")->capture_default_str();
  c->add_option("--steps", a->steps, "Straight-line steps N")->capture_default_str();
  c->add_option("--diet-points", a->diet_points, "DIET points: the first N of the val then training texts (0 = all of them)")->capture_default_str();
  c->add_option("--heads", a->heads, "Stitching classifiers averaged per direction")->capture_default_str();
  c->add_option("--epochs", a->epochs, "Stitching classifier epochs")->capture_default_str();
  c->add_option("--stitch-train", a->stitch_train, "Training texts of the stitching classifiers (0 = all)")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of anchor draws and heads")->capture_default_str();
  c->add_option("--split-seed", a->split_seed, "Seed of the train/val/test split")->capture_default_str();
  c->add_flag("--reembed", a->reembed, "Embed the corpus even when cached");
  c->add_flag("--no-plot", a->no_plot, "Skip the MRR-vs-anchors plot and CSV");
  c->add_flag("--json", a->json, "Print the results as one JSON document on stdout");
  c->callback([a] { RunText(*a); });
}

// After `relgeo demo` (order 1), which it extends.
const bool registered = RegisterCommand(2, RegisterDemoText);

}  // namespace
}  // namespace relgeo::cli
