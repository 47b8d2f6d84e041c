// Metric heads for models without a decoder (docs/design.md §2, paper §3.3): small
// networks trained on a model's frozen latents whose output space gives the
// metric that relgeo pulls back. Both are returned as TorchScript metric maps that
// MetricMap::Load / FromBytes (and the database) accept: input (n x d) latents.
//
//   classifier head  LayerNorm(d) -> Linear(d, H) + Tanh -> Linear(H, classes)
//                    map output: the logits; distance `euclidean` (the paper's
//                    RelGeo(L2)) or `fisher` (RelGeo(Fisher))
//   DIET head        LayerNorm(d) -> Linear(d, H) + Tanh -> Linear(H, P, no bias),
//                    each of the P training points its own class (Datum IndEx as
//                    Target); map output: the H-dimensional Tanh layer, distance
//                    `sphere` (RelGeo(Diet)). H = 500 as in the paper.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

struct HeadTrainOptions {
  int64_t hidden = 500;
  int epochs = 10;              // the paper: 10 for classifier heads, 50 for DIET heads
  int64_t batch_size = 64;
  double learning_rate = 5e-4;  // Adam
  // Augmentation: Gaussian noise added to each training latent, with standard
  // deviation `noise` times the per-dimension std of the training latents (only
  // latents are available, so image augmentations are replaced by input noise).
  double noise = 0.0;
  uint64_t seed = 0;            // initialisation, batch order, noise
  std::function<void(int epoch, int epochs, double mean_loss)> on_epoch;
};

struct HeadTrainResult {
  double initial_loss = 0;          // cross-entropy on the (clean) training set before training
  double final_loss = 0;            // the same after training
  double train_accuracy = 0;        // on the clean training set (DIET: instance accuracy)
  std::vector<double> epoch_loss;   // mean mini-batch loss per epoch (with noise, if any)
  int64_t num_classes = 0;          // classes, or P for DIET
  double train_seconds = 0;
  std::string map_bytes;            // the TorchScript metric map (see the file comment)
};

// latents: n x d, labels in [0, num_classes) (num_classes <= 0: max label + 1).
Result<HeadTrainResult> TrainClassifierHead(MatrixView latents, const std::vector<int64_t>& labels,
                                            const HeadTrainOptions& options, int64_t num_classes = 0);
// points: the P DIET points (P x d); row i is class i.
Result<HeadTrainResult> TrainDietHead(MatrixView points, const HeadTrainOptions& options);

// Accuracy of a classifier metric map (logits) on labelled latents.
Result<double> ClassifierAccuracy(const std::string& map_bytes, MatrixView latents, const std::vector<int64_t>& labels);

}  // namespace relgeo
