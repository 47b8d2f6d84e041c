// relgeo stitch ae | classify | images: zero-shot stitching of two models through
// relative representations (paper §4.1-4.2).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "relgeo/anchors.h"
#include "relgeo/datasets.h"
#include "relgeo/metric_map.h"
#include "relgeo/mrr.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/stitching.h"

namespace relgeo::cli {
namespace {

std::shared_ptr<MetricMap> LoadMapFor(const std::string& path, int64_t d, const std::string& distance,
                                      const char* flag) {
  MetricMapOptions mo;
  mo.distance = OrDie(ParseOutputDistance(distance), "--distance");
  mo.input_dim = d;
  return OrDie(MetricMap::Load(path, mo), flag);
}

// ------------------------------------------------------------------ stitch ae

struct AeArgs {
  std::string a_map, a_latents, b_map, b_latents, images, image, shape;
  int64_t anchors = 5, grid_rows = 8, count = 0;
  uint64_t seed = 0;
  int steps = 8;
  bool json = false;
};

Matrix FirstRows(const Matrix& m, int64_t count) {
  if (count <= 0 || count >= m.rows()) return m;
  return Matrix::CopyOf(m.view().RowSlice(0, count));
}

void RunAe(const AeArgs& a) {
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  CheckFlag<int64_t>("--anchor-count", a.anchors, 1, kMaxAnchors, "anchors");
  CheckFlag<int64_t>("--grid-rows", a.grid_rows, 1, kMaxGridRows, "samples shown in the grid");
  CheckFlag<int64_t>("--limit", a.count, 0, kMaxRowLimit, "rows used; 0 = all");
  Matrix za = FirstRows(OrDie(ReadNpyMatrix(a.a_latents), "--a-latents"), a.count);
  Matrix zb = FirstRows(OrDie(ReadNpyMatrix(a.b_latents), "--b-latents"), a.count);
  Matrix x = FirstRows(OrDie(ReadNpyMatrix(a.images), "--images"), a.count);
  int64_t h = 0, w = 0;
  if (!a.image.empty()) {
    if (a.shape.empty()) {
      h = w = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(x.cols()))));
    } else if (std::sscanf(a.shape.c_str(), "%ldx%ld", &h, &w) != 2 || h <= 0 || w <= 0) {
      throw CommandError{Status::InvalidArgument("--image-shape must look like 28x28")};
    }
    if (h * w != x.cols())
      throw CommandError{Status::InvalidArgument("--images rows have " + std::to_string(x.cols()) +
                                                 " values, not a " + std::to_string(h) + "x" + std::to_string(w) +
                                                 " image (set --image-shape)")};
  }
  AeStitchInputs in;
  in.decoder_a = LoadMapFor(a.a_map, za.cols(), "euclidean", "--a-map");
  in.decoder_b = LoadMapFor(a.b_map, zb.cols(), "euclidean", "--b-map");
  in.latents_a = za;
  in.latents_b = zb;
  in.images = x;
  AeStitchOptions o;
  o.anchors = a.anchors;
  o.seed = a.seed;
  o.steps = a.steps;
  o.grid_rows = a.grid_rows;
  o.on_stage = [](const std::string& s) {
    if (!Globals().quiet) std::fprintf(stderr, "stitch: %s\n", s.c_str());
  };
  AeStitchResult r = OrDie(StitchAutoencoders(in, o));
  if (!a.image.empty()) OrDie(WriteStitchGridPng(a.image, r, h, w), "--image");
  nlohmann::json j;
  j["samples"] = za.rows();
  j["anchors"] = r.anchor_rows;
  j["steps"] = a.steps;
  j["seed"] = a.seed;
  j["mse"] = {{"none", r.mse_none},
              {"anchors_linear", r.mse_anchors_linear},
              {"cosine", r.mse_cosine},
              {"relgeo", r.mse_relgeo},
              {"own_a", r.mse_own_a},
              {"own_b", r.mse_own_b}};
  j["match_accuracy"] = {{"cosine", r.match_accuracy_cosine}, {"relgeo", r.match_accuracy_relgeo}};
  if (a.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%lld samples, %lld anchors; reconstruction MSE per pixel:\n", static_cast<long long>(za.rows()),
                static_cast<long long>(a.anchors));
    std::printf("  own A %.5f   own B %.5f\n", r.mse_own_a, r.mse_own_b);
    std::printf("  none %.5f   anchors_linear %.5f   cosine %.5f   relgeo %.5f\n", r.mse_none, r.mse_anchors_linear,
                r.mse_cosine, r.mse_relgeo);
    std::printf("match accuracy (argmax is the same sample): cosine %.4f   relgeo %.4f\n", r.match_accuracy_cosine,
                r.match_accuracy_relgeo);
  }
  if (!a.image.empty() && !Globals().quiet) std::fprintf(stderr, "wrote %s\n", a.image.c_str());
}

// ------------------------------------------------------------ stitch classify

struct ClassifyArgs {
  std::string a_map, b_map, a_pool, b_pool, a_train, a_test, b_test, train_labels, test_labels;
  std::string distance = "euclidean", methods = "relgeo,cosine";
  int64_t anchors = 100, train_limit = 0;
  int steps = 8, heads = 3, epochs = 10;
  double lr = 1e-4;
  int64_t batch = 32;
  uint64_t seed = 0;
  bool json = false;
};

std::vector<int64_t> ReadLabels(const std::string& path, int64_t limit, const char* flag) {
  std::vector<int64_t> l = OrDie(ReadNpyInt64(path), flag);
  if (limit > 0 && limit < static_cast<int64_t>(l.size())) l.resize(static_cast<size_t>(limit));
  return l;
}

void RunClassify(const ClassifyArgs& a) {
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  CheckFlag<int64_t>("--anchor-count", a.anchors, 1, kMaxAnchors, "anchors");
  CheckFlag<int64_t>("--heads", a.heads, 1, kMaxHeads, "heads averaged");
  CheckFlag<int64_t>("--epochs", a.epochs, 0, kMaxEpochs, "epochs per head");
  CheckFlag<int64_t>("--batch", a.batch, 2, kMaxTrainBatch, "batch size");
  CheckFlag<int64_t>("--train-limit", a.train_limit, 0, kMaxRowLimit, "training rows; 0 = all");
  Matrix pa = OrDie(ReadNpyMatrix(a.a_pool), "--a-pool"), pb = OrDie(ReadNpyMatrix(a.b_pool), "--b-pool");
  if (pa.rows() != pb.rows())
    throw CommandError{Status::InvalidArgument("--a-pool and --b-pool must have the same rows (same samples)")};
  Matrix train = FirstRows(OrDie(ReadNpyMatrix(a.a_train), "--a-train"), a.train_limit);
  Matrix test_b = OrDie(ReadNpyMatrix(a.b_test), "--b-test");
  Matrix test_a = a.a_test.empty() ? Matrix() : OrDie(ReadNpyMatrix(a.a_test), "--a-test");
  std::vector<int64_t> ltr = ReadLabels(a.train_labels, a.train_limit, "--train-labels");
  std::vector<int64_t> lte = ReadLabels(a.test_labels, 0, "--test-labels");
  std::vector<int64_t> rows = OrDie(SelectAnchors(pa, a.anchors, AnchorSelection::kUniform, a.seed), "--anchor-count");
  Matrix anchors_a = GatherRows(pa, rows), anchors_b = GatherRows(pb, rows);

  nlohmann::json out;
  out["anchors"] = a.anchors;
  out["train_rows"] = train.rows();
  out["test_rows"] = test_b.rows();
  out["seed"] = a.seed;
  std::stringstream list(a.methods);
  std::string method;
  while (std::getline(list, method, ',')) {
    if (method.empty()) continue;
    Matrix ra_train, rb_test, ra_test;
    if (method == "cosine") {
      CosineEncoder ea = OrDie(CosineEncoder::Create(anchors_a), "--a-pool");
      CosineEncoder eb = OrDie(CosineEncoder::Create(anchors_b), "--b-pool");
      ra_train = OrDie(ea.Encode(train), "--a-train");
      rb_test = OrDie(eb.Encode(test_b), "--b-test");
      if (!test_a.empty()) ra_test = OrDie(ea.Encode(test_a), "--a-test");
    } else if (method == "relgeo") {
      if (a.a_map.empty() || a.b_map.empty())
        throw CommandError{Status::InvalidArgument("--a-map and --b-map are required for the relgeo method")};
      EncoderOptions eo;
      eo.steps = a.steps;
      auto ea = OrDie(RelativeEncoder::Create(LoadMapFor(a.a_map, pa.cols(), a.distance, "--a-map"), anchors_a, eo));
      auto eb = OrDie(RelativeEncoder::Create(LoadMapFor(a.b_map, pb.cols(), a.distance, "--b-map"), anchors_b, eo));
      auto encode = [&](const RelativeEncoder& e, const Matrix& z, const char* what) {
        Matrix reps(z.rows(), e.num_anchors());
        Progress bar(std::string("relgeo ") + what, z.rows(), "rows");
        for (int64_t r = 0; r < z.rows(); r += 512) {
          const int64_t c = std::min<int64_t>(512, z.rows() - r);
          Matrix part = OrDie(e.Encode(z.view().RowSlice(r, c)), what);
          std::copy(part.data(), part.data() + part.size(), reps.row(r));
          bar.Update(r + c);
        }
        bar.Finish();
        return reps;
      };
      ra_train = encode(*ea, train, "A train");
      rb_test = encode(*eb, test_b, "B test");
      if (!test_a.empty()) ra_test = encode(*ea, test_a, "A test");
    } else {
      throw CommandError{Status::InvalidArgument("--methods: unknown method '" + method + "' (relgeo, cosine)")};
    }
    StitchHeadOptions so;
    so.heads = a.heads;
    so.epochs = a.epochs;
    so.learning_rate = a.lr;
    so.batch_size = a.batch;
    so.seed = a.seed;
    Progress bar("heads " + method, static_cast<int64_t>(a.heads) * a.epochs, "epochs");
    int64_t done = 0;
    so.on_epoch = [&](int, int, double) { bar.Update(++done); };
    StitchClassifyResult r = OrDie(StitchClassifier(ra_train, ltr, rb_test, lte, ra_test, so));
    bar.Finish();
    nlohmann::json j;
    j["accuracy"] = r.stitched_mean;
    j["accuracy_std"] = r.stitched_std;
    j["per_head"] = r.stitched_accuracy;
    if (!ra_test.empty()) {
      j["own_accuracy"] = r.own_mean;
      MrrOptions mo;
      j["mrr_cosine_sym"] = OrDie(MeanReciprocalRank(ra_test, rb_test, mo), "mrr");
    }
    out["methods"][method] = j;
    if (!a.json) {
      std::printf("%-7s stitched accuracy %.4f +- %.4f", method.c_str(), r.stitched_mean, r.stitched_std);
      if (!ra_test.empty())
        std::printf("   (own space %.4f)   MRR cosine sym %.4f", r.own_mean, j["mrr_cosine_sym"].get<double>());
      std::printf("\n");
    }
  }
  if (a.json) std::cout << out.dump(2) << "\n";
}

// -------------------------------------------------------------- stitch images

struct ImagesArgs {
  std::string split = "test", out, labels_out, data_dir = kFashionMnistDir;
  int64_t limit = 0;
  uint64_t split_seed = 0;
};

void RunImages(const ImagesArgs& a) {
  CheckFlag<int64_t>("--limit", a.limit, 0, kMaxRowLimit, "images; 0 = all");
  FashionMnistOptions fo;
  fo.dir = a.data_dir;
  fo.limit = a.limit;
  fo.split_seed = a.split_seed;
  ImageDataset ds = OrDie(LoadFashionMnist(OrDie(ParseDataSplit(a.split), "--split"), fo), "--data-dir");
  OrDie(WriteNpyMatrix(a.out, ds.ToMatrix()), "--out");
  if (!a.labels_out.empty()) OrDie(WriteNpyInt64(a.labels_out, ds.labels), "--labels-out");
  if (!Globals().quiet)
    std::fprintf(stderr, "wrote %s: %lld x %lld pixels in [0, 1]\n", a.out.c_str(), static_cast<long long>(ds.size()),
                 static_cast<long long>(ds.pixels_per_image()));
}

void RegisterStitch(CLI::App& app) {
  CLI::App* g = app.add_subcommand("stitch", "Zero-shot stitching of two models through relative representations");
  g->require_subcommand(1);

  auto ae = std::make_shared<AeArgs>();
  CLI::App* c = g->add_subcommand("ae", "Autoencoder stitching: decode model A's latents with model B's decoder");
  c->footer(
      "Matches every sample of A to its most similar sample of B by relative representations from --anchor-count\n"
      "random anchors, fits a linear map on the matched pairs and reconstructs D_B(T z_A). Columns: none\n"
      "(D_B(z_A)), anchors_linear (T fitted on the anchors only), cosine, relgeo. MSE is per pixel.\n"
      "Example:\n"
      "  relgeo stitch images --split test --out x_test.npy\n"
      "  relgeo stitch ae --a-map conv0/decoder.pt --a-latents conv0/z_test.npy --b-map conv1/decoder.pt \\\n"
      "      --b-latents conv1/z_test.npy --images x_test.npy --anchor-count 5 --seed 0 --image grid.png --json");
  c->add_option("--a-map", ae->a_map, "Model A's decoder (TorchScript)")->required()->check(CLI::ExistingFile);
  c->add_option("--a-latents", ae->a_latents, "Model A's latents, n x d_A .npy")->required()->check(CLI::ExistingFile);
  c->add_option("--b-map", ae->b_map, "Model B's decoder (TorchScript)")->required()->check(CLI::ExistingFile);
  c->add_option("--b-latents", ae->b_latents, "Model B's latents of the same samples")->required()->check(CLI::ExistingFile);
  c->add_option("--images", ae->images, "The original images, n x p .npy (flattened, values as the decoders output)")
      ->required()
      ->check(CLI::ExistingFile);
  c->add_option("--anchor-count,--anchors", ae->anchors, "Anchors K, drawn uniformly from the rows (--anchors: the older spelling, still accepted)")->capture_default_str();
  c->add_option("--seed", ae->seed, "Anchor draw seed")->capture_default_str();
  c->add_option("--steps", ae->steps, "relgeo straight-line steps")->capture_default_str();
  c->add_option("--limit,--count", ae->count, "Use only the first N rows, 0 = all (--count: the older spelling, still accepted)")->capture_default_str();
  c->add_option("--image", ae->image, "Write the image grid (PNG)");
  c->add_option("--image-shape", ae->shape, "HxW of one image (default: square)");
  c->add_option("--grid-rows", ae->grid_rows, "Samples shown in the grid")->capture_default_str();
  c->add_flag("--json", ae->json, "Print one JSON document");
  c->callback([ae] { RunAe(*ae); });

  auto cl = std::make_shared<ClassifyArgs>();
  CLI::App* k = g->add_subcommand("classify", "Classification stitching: heads trained on A's relative reps, tested on B's");
  k->footer(
      "Anchors: --anchor-count rows drawn uniformly (seeded) from the pools, whose rows are the same samples\n"
      "in both models (e.g. the validation split). For each method, --heads heads (LayerNorm -> Linear(K,K)\n"
      "+ Tanh -> InstanceNorm -> Linear(K,classes); Adam, batch 32) are trained on A's representations of\n"
      "--a-train and tested on B's representations of --b-test; accuracies are averaged. With --a-test\n"
      "(A's latents of the same test samples) also the accuracy in A's own space and the symmetric cosine\n"
      "MRR between A's and B's test representations are reported.\n"
      "Example (metric maps: decoders, or heads from 'relgeo heads train'):\n"
      "  relgeo stitch classify --a-map ha.pt --b-map hb.pt --distance euclidean \\\n"
      "      --a-pool a/z_val.npy --b-pool b/z_val.npy --a-train a/z_train.npy --train-labels y_train.npy \\\n"
      "      --a-test a/z_test.npy --b-test b/z_test.npy --test-labels a/labels_test.npy --anchor-count 100 --json");
  k->add_option("--a-map", cl->a_map, "Model A's metric map (for relgeo)")->check(CLI::ExistingFile);
  k->add_option("--b-map", cl->b_map, "Model B's metric map (for relgeo)")->check(CLI::ExistingFile);
  k->add_option("--distance", cl->distance, "Output distance of both maps: euclidean | sphere | fisher")
      ->capture_default_str();
  k->add_option("--a-pool", cl->a_pool, "Anchor pool in A, .npy")->required()->check(CLI::ExistingFile);
  k->add_option("--b-pool", cl->b_pool, "The same samples in B, .npy")->required()->check(CLI::ExistingFile);
  k->add_option("--a-train", cl->a_train, "A's training latents, .npy")->required()->check(CLI::ExistingFile);
  k->add_option("--train-labels", cl->train_labels, "Training labels, .npy int")->required()->check(CLI::ExistingFile);
  k->add_option("--a-test", cl->a_test, "A's test latents (optional), .npy")->check(CLI::ExistingFile);
  k->add_option("--b-test", cl->b_test, "B's test latents, .npy")->required()->check(CLI::ExistingFile);
  k->add_option("--test-labels", cl->test_labels, "Test labels, .npy int")->required()->check(CLI::ExistingFile);
  k->add_option("--methods", cl->methods, "Comma list: relgeo, cosine")->capture_default_str();
  k->add_option("--anchor-count,--anchors", cl->anchors, "Anchors K (--anchors: the older spelling, still accepted)")->capture_default_str();
  k->add_option("--steps", cl->steps, "relgeo straight-line steps")->capture_default_str();
  k->add_option("--heads", cl->heads, "Heads averaged")->capture_default_str();
  k->add_option("--epochs", cl->epochs, "Epochs per head")->capture_default_str();
  k->add_option("--lr", cl->lr, "Adam learning rate")->capture_default_str();
  k->add_option("--batch", cl->batch, "Batch size")->capture_default_str();
  k->add_option("--train-limit", cl->train_limit, "Use only the first N training rows (0 = all)")->capture_default_str();
  k->add_option("--seed", cl->seed, "Anchor draw and head initialisation seed")->capture_default_str();
  k->add_flag("--json", cl->json, "Print one JSON document");
  k->callback([cl] { RunClassify(*cl); });

  auto im = std::make_shared<ImagesArgs>();
  CLI::App* i = g->add_subcommand("images", "Write a Fashion-MNIST split's images as an n x 784 .npy in [0, 1]");
  i->footer("Example:\n  relgeo stitch images --split test --out x_test.npy --labels-out y_test.npy");
  i->add_option("--split", im->split, "train | val | test | train-full")->capture_default_str();
  i->add_option("--out", im->out, "Output .npy (n x 784 float32)")->required();
  i->add_option("--labels-out", im->labels_out, "Also write the labels (.npy int64)");
  i->add_option("--data-dir", im->data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  i->add_option("--split-seed", im->split_seed, "Seed of the train/val split")->capture_default_str();
  i->add_option("--limit", im->limit, "Only the first N images (0 = all)")->capture_default_str();
  i->callback([im] { RunImages(*im); });
}

const bool registered = RegisterCommand(70, RegisterStitch);

}  // namespace
}  // namespace relgeo::cli
