// Autoencoder training in LibTorch (C++ only): the paper's convolutional AE
// (arXiv 2506.01599, Table 6) and an MLP AE, for 28 x 28 single-channel images.
// Encoder and decoder are saved as TorchScript files; the decoder is a metric map
// (MetricMap::Load, input n x d, output n x 1 x 28 x 28), the encoder maps
// (n x 784) or (n x 1 x 28 x 28) images in [0, 1] to (n x d) latents.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

enum class AeArch {
  kConv,  // Conv(1,32,3,s2,p1)+ReLU, Conv(32,64,3,s2,p1)+ReLU, Linear(3136,d) | Linear(d,3136)+ReLU,
          // ConvT(64,32,3,s2,p1,op1)+ReLU, ConvT(32,1,3,s2,p1,op1)+Sigmoid
  kMlp,   // Linear(784,512)+ReLU, Linear(512,256)+ReLU, Linear(256,d) | Linear(d,256)+ReLU,
          // Linear(256,512)+ReLU, Linear(512,784)+Sigmoid, reshaped to n x 1 x 28 x 28
};
const char* AeArchName(AeArch a);
Result<AeArch> ParseAeArch(const std::string& name);  // "conv" | "mlp"

struct AeProgress {
  int epoch = 0;           // 1-based
  int epochs = 0;
  int64_t batch = 0;       // batches done in this epoch
  int64_t batches = 0;     // batches per epoch
  double loss = 0;         // running mean of the training MSE over this epoch
  double elapsed_s = 0;    // since training started
};

struct AeTrainOptions {
  AeArch arch = AeArch::kConv;
  int64_t latent_dim = 128;
  uint64_t seed = 0;       // initialisation and mini-batch order
  int epochs = 5;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;  // Adam
  // Called every few batches and at the end of each epoch (may be empty).
  std::function<void(const AeProgress&)> on_progress;
};

struct AeTrainResult {
  std::vector<double> epoch_loss;  // mean training MSE per epoch
  double first_batches_loss = 0;   // mean MSE over the first 10 batches (before much learning)
  double eval_mse = -1;            // per-pixel MSE on eval_images (-1 when none given)
  double train_seconds = 0;
  std::string encoder_bytes;       // TorchScript, see the file comment
  std::string decoder_bytes;
};

// Trains on `train_images` (n x 784, values in [0, 1]) with MSE loss, then
// measures the reconstruction MSE on `eval_images` (may be empty).
Result<AeTrainResult> TrainAutoencoder(MatrixView train_images, MatrixView eval_images, const AeTrainOptions& options);

// Writes DIR/encoder.pt and DIR/decoder.pt (creating DIR).
Status SaveAutoencoder(const AeTrainResult& result, const std::string& dir);

// Runs a TorchScript encoder over images (n x 784 in [0, 1]) in batches: n x d latents.
Result<Matrix> EncodeImages(const std::string& encoder_path, MatrixView images, int64_t batch_size = 1024);
// Per-pixel mean squared reconstruction error decoder(encoder(x)) vs x.
Result<double> ReconstructionMse(const std::string& encoder_path, const std::string& decoder_path, MatrixView images);

}  // namespace relgeo
