// Stitching two independently trained models through relative representations
// (docs/design.md §2, paper §4.1-4.2).
//
// Autoencoder stitching: with a few anchors (5) known in both latent spaces, every
// sample of space A is matched to its most similar sample of space B (argmax of
// the cosine similarity of their relative representations), a linear map T is
// fitted on the matched pairs, and A's latents are decoded by B's decoder:
// D_B(T z_A). Compared columns: no transform D_B(z_A), T fitted on the anchors only,
// T from cosine relative representations, T from relgeo representations.
//
// Classification stitching: heads trained on model A's relative representations
// (LayerNorm(K) -> Linear(K,K) + Tanh -> InstanceNorm -> Linear(K, classes)) are
// evaluated on model B's relative representations of the test set.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/status.h"

namespace relgeo {

struct AeStitchInputs {
  std::shared_ptr<const MetricMap> decoder_a, decoder_b;  // euclidean output distance (pixels)
  MatrixView latents_a, latents_b;  // n x d_a, n x d_b: row i is the same sample
  MatrixView images;                // n x p: the original images, flattened, same rows
};

struct AeStitchOptions {
  int64_t anchors = 5;     // drawn uniformly at random from the rows
  uint64_t seed = 0;
  int steps = 8;           // relgeo straight-line steps
  int64_t grid_rows = 8;   // samples kept for the image grid (the first rows that are not anchors)
  std::function<void(const std::string& stage)> on_stage;
};

struct AeStitchResult {
  std::vector<int64_t> anchor_rows;
  // Per-pixel mean squared error against the originals, over all n samples.
  double mse_own_a = 0, mse_own_b = 0;  // D_A(z_A), D_B(z_B): each model's own reconstruction
  double mse_none = 0;                  // D_B(z_A)
  double mse_anchors_linear = 0;        // D_B(T z_A), T fitted on the anchors only
  double mse_cosine = 0;                // T fitted on pairs matched by cosine relative reps
  double mse_relgeo = 0;                // T fitted on pairs matched by relgeo reps
  // Fraction of samples whose argmax match is the sample itself.
  double match_accuracy_cosine = 0, match_accuracy_relgeo = 0;
  // Image grid: columns (original, A own, B own, none, anchors, cosine, relgeo), each
  // grid_rows x p, and their titles.
  std::vector<std::string> grid_titles;
  std::vector<Matrix> grid_columns;
};

Result<AeStitchResult> StitchAutoencoders(const AeStitchInputs& inputs, const AeStitchOptions& options = {});

// The grid as a PNG: one row per sample, one column per method; images are
// height x width grayscale in [0, 1] (height * width must equal p).
Status WriteStitchGridPng(const std::string& path, const AeStitchResult& result, int64_t height, int64_t width,
                          int scale = 2);

// Row i -> argmax_j cos(x1_i, x2_j) (first maximum on ties).
Result<std::vector<int64_t>> MatchByCosine(MatrixView x1, MatrixView x2);

struct StitchHeadOptions {
  int heads = 3;               // independently initialised heads; accuracies are averaged
  int epochs = 10;
  int64_t batch_size = 32;
  double learning_rate = 1e-4;  // Adam (paper Table 5)
  // The InstanceNorm layer normalises each hidden feature over the batch (the
  // reference relreps code applies InstanceNorm1d to the transposed (K x batch)
  // activations); evaluation uses batches of this size.
  int64_t eval_batch_size = 256;
  uint64_t seed = 0;
  std::function<void(int head, int epoch, double loss)> on_epoch;
};

struct StitchClassifyResult {
  std::vector<double> stitched_accuracy;  // per head: trained on A, tested on B
  double stitched_mean = 0, stitched_std = 0;
  std::vector<double> own_accuracy;       // per head: tested on A's own test reps (when given)
  double own_mean = 0;
};

// train_a: A's representations of the training samples (n x K) with labels;
// test_b: B's representations of the test samples (m x K) with labels; test_a
// (optional, may be empty): A's representations of the same test samples.
Result<StitchClassifyResult> StitchClassifier(MatrixView train_a, const std::vector<int64_t>& train_labels,
                                              MatrixView test_b, const std::vector<int64_t>& test_labels,
                                              MatrixView test_a, const StitchHeadOptions& options = {});

}  // namespace relgeo
