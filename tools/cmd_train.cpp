// relgeo train-ae: train an autoencoder on Fashion-MNIST (LibTorch C++) and write
// its TorchScript encoder/decoder plus the latents of the val and test splits.
// relgeo embed: a split's latents through any saved encoder.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "json_text.h"
#include "relgeo/autoencoder.h"
#include "relgeo/datasets.h"
#include "relgeo/file_io.h"
#include "relgeo/metric_map.h"
#include "relgeo/npy.h"

namespace relgeo::cli {
namespace {

struct TrainArgs {
  std::string arch = "conv", out, data_dir = kFashionMnistDir;
  int64_t latent = 128, batch = 64, train_limit = 0, eval_limit = 0;
  uint64_t seed = 0, split_seed = 0;
  int epochs = 5;
  double lr = 1e-3;
  bool json = false;
};

ImageDataset LoadSplit(DataSplit split, const std::string& dir, uint64_t split_seed, int64_t limit) {
  FashionMnistOptions fo;
  fo.dir = dir;
  fo.split_seed = split_seed;
  fo.limit = limit;
  return OrDie(LoadFashionMnist(split, fo), "--data-dir");
}

void WriteSplitLatents(const std::string& encoder, const ImageDataset& ds, const std::string& dir,
                       const std::string& name) {
  Matrix z = OrDie(EncodeImages(encoder, ds.ToMatrix()), "encoding the " + name + " split");
  OrDie(WriteNpyMatrix(dir + "/z_" + name + ".npy", z));
  OrDie(WriteNpyInt64(dir + "/labels_" + name + ".npy", ds.labels));
  OrDie(WriteNpyInt64(dir + "/index_" + name + ".npy", ds.indices));
}

void RunTrain(const TrainArgs& a) {
  CheckFlag<int64_t>("--latent-dim", a.latent, 1, kMaxLatentDim, "latent dimension");
  CheckFlag<int64_t>("--epochs", a.epochs, 1, kMaxEpochs, "training epochs");
  CheckFlag<int64_t>("--batch", a.batch, 1, kMaxTrainBatch, "batch size");
  CheckFlag<int64_t>("--train-limit", a.train_limit, 0, kMaxRowLimit, "training images; 0 = all");
  CheckFlag<int64_t>("--eval-limit", a.eval_limit, 0, kMaxRowLimit, "test and validation images; 0 = all");
  AeTrainOptions o;
  o.arch = OrDie(ParseAeArch(a.arch), "--arch");
  o.latent_dim = a.latent;
  o.seed = a.seed;
  o.epochs = a.epochs;
  o.batch_size = a.batch;
  o.learning_rate = a.lr;
  ImageDataset train = LoadSplit(DataSplit::kTrain, a.data_dir, a.split_seed, a.train_limit);
  ImageDataset val = LoadSplit(DataSplit::kVal, a.data_dir, a.split_seed, a.eval_limit);
  ImageDataset test = LoadSplit(DataSplit::kTest, a.data_dir, a.split_seed, a.eval_limit);
  if (!Globals().quiet)
    std::fprintf(stderr, "training %s AE (latent %lld, seed %llu) on %lld images for %d epochs\n", a.arch.c_str(),
                 static_cast<long long>(a.latent), static_cast<unsigned long long>(a.seed),
                 static_cast<long long>(train.size()), a.epochs);
  const int64_t batches = (train.size() + a.batch - 1) / a.batch;
  Progress bar("train", batches * a.epochs, "batches");
  o.on_progress = [&](const AeProgress& p) {
    bar.Update((p.epoch - 1) * p.batches + p.batch);
    if (p.batch == p.batches && !Globals().quiet)
      std::fprintf(stderr, "%sepoch %d/%d  train MSE %.5f  (%.0f s)\n", isatty(fileno(stderr)) ? "\n" : "", p.epoch,
                   p.epochs, p.loss, p.elapsed_s);
  };
  AeTrainResult r = OrDie(TrainAutoencoder(train.ToMatrix(), test.ToMatrix(), o));
  OrDie(SaveAutoencoder(r, a.out), "--out");
  WriteSplitLatents(a.out + "/encoder.pt", test, a.out, "test");
  WriteSplitLatents(a.out + "/encoder.pt", val, a.out, "val");
  nlohmann::json j = {{"arch", a.arch},
                      {"latent_dim", a.latent},
                      {"seed", a.seed},
                      {"split_seed", a.split_seed},
                      {"epochs", a.epochs},
                      {"batch_size", a.batch},
                      {"learning_rate", a.lr},
                      {"train_images", train.size()},
                      {"test_images", test.size()},
                      {"val_images", val.size()},
                      {"epoch_train_mse", r.epoch_loss},
                      {"test_mse", r.eval_mse},
                      {"train_seconds", r.train_seconds},
                      {"encoder", a.out + "/encoder.pt"},
                      {"decoder", a.out + "/decoder.pt"}};
  const std::string text = Dump(j, 2);
  OrDie(WriteFileAtomically(a.out + "/train.json", {text + "\n"}));
  if (a.json) {
    std::printf("%s\n", text.c_str());
  } else if (!Globals().quiet) {
    std::fprintf(stderr, "test reconstruction MSE %.5f, trained in %.1f s; wrote %s/{encoder,decoder}.pt, "
                 "z_test.npy, z_val.npy, labels_*.npy, train.json\n",
                 r.eval_mse, r.train_seconds, a.out.c_str());
  }
}

void RegisterTrain(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* c = app.add_subcommand("train-ae", "Train a Fashion-MNIST autoencoder (conv or MLP) in LibTorch");
  c->footer(
      "Writes DIR/encoder.pt, DIR/decoder.pt (TorchScript; the decoder is a metric map), DIR/z_test.npy,\n"
      "DIR/z_val.npy (latents), DIR/labels_{test,val}.npy, DIR/index_{test,val}.npy and DIR/train.json.\n"
      "Examples:\n"
      "  relgeo train-ae --arch conv --latent-dim 128 --seed 1 --epochs 5 --out runs/conv1\n"
      "  relgeo train-ae --arch mlp --latent-dim 128 --seed 3 --epochs 5 --out runs/mlp3\n"
      "  relgeo train-ae --arch conv --epochs 1 --train-limit 2000 --eval-limit 500 --out /tmp/smoke");
  c->add_option("--arch", a->arch, "conv (the paper's Table 6) | mlp")->capture_default_str();
  c->add_option("--latent-dim,--latent", a->latent, "Latent dimension d (--latent: the older spelling, still accepted)")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed for initialisation and data order")->capture_default_str();
  c->add_option("--epochs", a->epochs, "Training epochs")->capture_default_str();
  c->add_option("--batch", a->batch, "Batch size")->capture_default_str();
  c->add_option("--lr", a->lr, "Adam learning rate")->capture_default_str();
  c->add_option("--out", a->out, "Output directory")->required();
  c->add_option("--data-dir", a->data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  c->add_option("--split-seed", a->split_seed, "Seed of the 90/10 train/val split (keep it equal across models)")
      ->capture_default_str();
  c->add_option("--train-limit", a->train_limit, "Use only the first N training images (0 = all)");
  c->add_option("--eval-limit", a->eval_limit, "Only the first N test and val images (0 = all)");
  c->add_flag("--json", a->json, "Print the training summary as JSON on stdout");
  c->callback([a] { RunTrain(*a); });
}

struct EmbedArgs {
  std::string encoder, split = "test", out, data_dir = kFashionMnistDir, labels_out;
  uint64_t split_seed = 0;
  int64_t limit = 0;
};

void RunEmbed(const EmbedArgs& a) {
  CheckFlag<int64_t>("--limit", a.limit, 0, kMaxRowLimit, "images; 0 = all");
  DataSplit split = OrDie(ParseDataSplit(a.split), "--split");
  ImageDataset ds = LoadSplit(split, a.data_dir, a.split_seed, a.limit);
  // Images are converted and encoded a block at a time and the latents appended to
  // the output as they come (NpyMatrixWriter: all or nothing), so beyond the uint8
  // dataset memory is bounded by the block, not by n x 784 floats.
  constexpr int64_t kBlock = 8192;
  const int64_t n = ds.size(), p = ds.pixels_per_image();
  std::unique_ptr<NpyMatrixWriter> out;
  int64_t d = 0;
  Progress bar("embed", n, "images");
  for (int64_t r = 0; r < n; r += kBlock) {
    const int64_t c = std::min(kBlock, n - r);
    Matrix images(c, p);
    for (int64_t i = 0; i < c * p; ++i) images.data()[i] = static_cast<float>(ds.pixels[static_cast<size_t>(r * p + i)]) / 255.0f;
    Matrix z = OrDie(EncodeImages(a.encoder, images), "--encoder");
    if (!out) {
      d = z.cols();
      out = OrDie(NpyMatrixWriter::Create(a.out, n, d), "--out");
    }
    OrDie(out->Append(z), "--out");
    bar.Update(r + c);
  }
  if (!out) throw CommandError{Status::InvalidArgument("the split has no images (--limit?)")};
  OrDie(out->Commit(), "--out");
  bar.Finish();
  if (!a.labels_out.empty()) OrDie(WriteNpyInt64(a.labels_out, ds.labels), "--labels-out");
  if (!Globals().quiet)
    std::fprintf(stderr, "wrote %s: %lld x %lld latents of the %s split\n", PrintableText(a.out).c_str(),
                 static_cast<long long>(n), static_cast<long long>(d), a.split.c_str());
}

void RegisterEmbed(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  CLI::App* c = app.add_subcommand("embed", "Encode a Fashion-MNIST split with a TorchScript encoder");
  c->footer("Example:\n  relgeo embed --encoder runs/conv1/encoder.pt --split test --out z_test.npy");
  c->add_option("--encoder", a->encoder, "TorchScript encoder: (n x 784) in [0,1] -> (n x d)")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--split", a->split, "train | val | test | train-full")->capture_default_str();
  c->add_option("--out", a->out, "Output .npy (n x d float32)")->required();
  c->add_option("--labels-out", a->labels_out, "Also write the labels (.npy int64)");
  c->add_option("--data-dir", a->data_dir, "Fashion-MNIST IDX directory")->capture_default_str();
  c->add_option("--split-seed", a->split_seed, "Seed of the train/val split")->capture_default_str();
  c->add_option("--limit", a->limit, "Only the first N images of the split (0 = all)");
  c->callback([a] { RunEmbed(*a); });
}

const bool registered = RegisterCommand(40, RegisterTrain) && RegisterCommand(41, RegisterEmbed);

}  // namespace
}  // namespace relgeo::cli
