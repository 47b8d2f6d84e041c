// relgeo heads train: metric heads (classifier, DIET) on frozen latents, saved as
// TorchScript metric maps.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "relgeo/file_io.h"
#include "relgeo/heads.h"
#include "relgeo/npy.h"

namespace relgeo::cli {
namespace {

struct HeadArgs {
  std::string kind = "classifier", latents, labels, out, test_latents, test_labels;
  int64_t points = 2000, hidden = 500, batch = 64;
  int epochs = 0;
  double lr = 5e-4, noise = 0.0;
  uint64_t seed = 0;
  bool json = false;
};

void RunTrain(const HeadArgs& a) {
  CheckFlag<int64_t>("--hidden", a.hidden, 1, kMaxHidden, "hidden width");
  CheckFlag<int64_t>("--batch", a.batch, 1, kMaxTrainBatch, "batch size");
  CheckFlag<int64_t>("--epochs", a.epochs, 0, kMaxEpochs, "0 = the kind's default");
  CheckFlag<int64_t>("--points", a.points, 2, kMaxDietPoints, "DIET points");
  Matrix z = OrDie(ReadNpyMatrix(a.latents), "--latents");
  HeadTrainOptions o;
  o.hidden = a.hidden;
  o.batch_size = a.batch;
  o.learning_rate = a.lr;
  o.noise = a.noise;
  o.seed = a.seed;
  std::unique_ptr<Progress> pb;
  o.on_epoch = [&](int e, int total, double) {
    if (!pb) pb = std::make_unique<Progress>("train " + a.kind + " head", total, "epochs");
    pb->Update(e);
  };
  HeadTrainResult r;
  std::vector<int64_t> labels;
  if (a.kind == "classifier") {
    if (a.labels.empty()) throw CommandError{Status::InvalidArgument("--labels is required for a classifier head")};
    labels = OrDie(ReadNpyInt64(a.labels), "--labels");
    o.epochs = a.epochs > 0 ? a.epochs : 10;
    r = OrDie(TrainClassifierHead(z, labels, o), "training");
  } else if (a.kind == "diet") {
    const int64_t p = std::min(a.points, z.rows());
    o.epochs = a.epochs > 0 ? a.epochs : 50;
    r = OrDie(TrainDietHead(z.view().RowSlice(0, p), o), "training");
  } else {
    throw CommandError{Status::InvalidArgument("--kind must be classifier or diet, got '" + a.kind + "'")};
  }
  if (pb) pb->Finish();
  OrDie(WriteFileAtomically(a.out, {r.map_bytes}), "--out");
  nlohmann::json j;
  j["kind"] = a.kind;
  j["out"] = a.out;
  j["distance"] = a.kind == "diet" ? "sphere" : "euclidean or fisher";
  j["classes"] = r.num_classes;
  j["epochs"] = o.epochs;
  j["noise"] = a.noise;
  j["initial_loss"] = r.initial_loss;
  j["final_loss"] = r.final_loss;
  j["train_accuracy"] = r.train_accuracy;
  j["epoch_loss"] = r.epoch_loss;
  j["train_seconds"] = r.train_seconds;
  if (!a.test_latents.empty() || !a.test_labels.empty()) {
    if (a.kind != "classifier" || a.test_latents.empty() || a.test_labels.empty())
      throw CommandError{Status::InvalidArgument("--test-latents and --test-labels go together, for classifier heads")};
    Matrix zt = OrDie(ReadNpyMatrix(a.test_latents), "--test-latents");
    auto lt = OrDie(ReadNpyInt64(a.test_labels), "--test-labels");
    j["test_accuracy"] = OrDie(ClassifierAccuracy(r.map_bytes, zt, lt), "--test-latents");
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("%s head (%lld classes): loss %.4f -> %.4f, train accuracy %.4f, %.1f s\n", a.kind.c_str(),
              static_cast<long long>(r.num_classes), r.initial_loss, r.final_loss, r.train_accuracy, r.train_seconds);
  if (j.contains("test_accuracy")) std::printf("test accuracy %.4f\n", j["test_accuracy"].get<double>());
  std::printf("wrote %s (metric map; use --distance %s)\n", a.out.c_str(),
              a.kind == "diet" ? "sphere" : "euclidean or fisher");
}

void RegisterHeads(CLI::App& app) {
  CLI::App* g = app.add_subcommand("heads", "Metric heads for models without a decoder");
  g->require_subcommand(1);
  auto a = std::make_shared<HeadArgs>();
  CLI::App* c = g->add_subcommand("train", "Train a classifier or DIET head on frozen latents; save it as a metric map");
  c->footer(
      "classifier: LayerNorm -> Linear(d,H)+Tanh -> Linear(H,classes); the saved map outputs the logits\n"
      "            (distance euclidean = RelGeo(L2), or fisher = RelGeo(Fisher)). Default 10 epochs.\n"
      "diet:       LayerNorm -> Linear(d,H)+Tanh -> Linear(H,P, no bias), trained on the first --points rows,\n"
      "            each its own class; the saved map outputs the H-d Tanh layer (distance sphere). Default\n"
      "            50 epochs. --noise adds Gaussian noise (times each dimension's std) as augmentation.\n"
      "Examples:\n"
      "  relgeo heads train --kind classifier --latents z_train.npy --labels y_train.npy --out clf.pt \\\n"
      "      --test-latents z_test.npy --test-labels y_test.npy\n"
      "  relgeo heads train --kind diet --latents z_val.npy --points 2000 --noise 0.1 --out diet.pt");
  c->add_option("--kind", a->kind, "classifier | diet")->capture_default_str();
  c->add_option("--latents", a->latents, "Training latents, n x d .npy")->required()->check(CLI::ExistingFile);
  c->add_option("--labels", a->labels, "Labels, .npy int (classifier)")->check(CLI::ExistingFile);
  c->add_option("--out", a->out, "Output TorchScript metric map")->required();
  c->add_option("--points", a->points, "DIET points P (the first P rows)")->capture_default_str();
  c->add_option("--hidden", a->hidden, "Hidden width H")->capture_default_str();
  c->add_option("--epochs", a->epochs, "Epochs (0: 10 classifier, 50 diet)")->capture_default_str();
  c->add_option("--lr", a->lr, "Adam learning rate")->capture_default_str();
  c->add_option("--batch", a->batch, "Batch size")->capture_default_str();
  c->add_option("--noise", a->noise, "Gaussian input noise, relative to each dimension's std")->capture_default_str();
  c->add_option("--seed", a->seed, "Initialisation, order and noise seed")->capture_default_str();
  c->add_option("--test-latents", a->test_latents, "Classifier: also report accuracy on these")->check(CLI::ExistingFile);
  c->add_option("--test-labels", a->test_labels, "Labels of --test-latents")->check(CLI::ExistingFile);
  c->add_flag("--json", a->json, "Print one JSON document");
  c->callback([a] { RunTrain(*a); });
}

const bool registered = RegisterCommand(75, RegisterHeads);

}  // namespace
}  // namespace relgeo::cli
