// MetricMap: the function f : R^d -> R^m whose output-space distance is pulled
// back to the latent space (an autoencoder's decoder, a classifier head, a DIET
// head). Any TorchScript module whose forward takes an (n x d) float tensor and
// returns (n x ...) works; outputs are flattened to (n x m).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

// The distance delta between two points of the map's output space (docs/design.md §1).
enum class OutputDistance {
  kEuclidean,  // |u - v|_2: decoder pixels, classifier logits
  kSphere,     // great-circle angle between u/|u| and v/|v|: DIET hidden layer
  kFisher,     // Fisher-Rao distance between softmax(u) and softmax(v): logits
};

const char* OutputDistanceName(OutputDistance d);
// Accepts "euclidean", "sphere", "fisher" (also "l2"); anything else is InvalidArgument.
Result<OutputDistance> ParseOutputDistance(const std::string& name);

// Limits, checked where the numbers enter (docs/cli.md lists them): the latent
// dimension d of a map (given or read from the map), and the size of a map file,
// which is read whole (a TorchScript archive bigger than this is not a metric map).
inline constexpr int64_t kMaxLatentDim = 1000000;
inline constexpr int64_t kMaxMapFileBytes = int64_t{2} << 30;  // 2 GiB

struct MetricMapOptions {
  // Latent dimension d, 1..kMaxLatentDim. 0 = infer: the module's `input_dim`
  // attribute if it has one, else the column count of its first 2-D parameter (the
  // first Linear's weight). Negative is InvalidArgument.
  int64_t input_dim = 0;
  OutputDistance distance = OutputDistance::kEuclidean;
  // "cpu" or "cuda[:i]". CUDA needs a build with RELGEO_WITH_CUDA and a visible GPU.
  std::string device = "cpu";
};

class MetricMap {
 public:
  // Loads a TorchScript file. Fails with a clear Status when the file is missing,
  // is not a regular file of at most kMaxMapFileBytes, is not TorchScript, or its
  // forward does not map (n x d) to (n x ...) floats.
  static Result<std::shared_ptr<MetricMap>> Load(const std::string& path, const MetricMapOptions& options = {});
  // Same, from the bytes of a saved module (how the database stores maps).
  static Result<std::shared_ptr<MetricMap>> FromBytes(const std::string& bytes, const MetricMapOptions& options = {});

  ~MetricMap();
  MetricMap(const MetricMap&) = delete;
  MetricMap& operator=(const MetricMap&) = delete;

  int64_t input_dim() const;
  int64_t output_dim() const;
  OutputDistance distance() const;
  const std::string& device() const;

  // f applied row-wise: (n x d) -> (n x m). Thread-safe (TorchScript forward is re-entrant).
  Result<Matrix> Forward(MatrixView latents) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }  // for the library's own encoders

 private:
  explicit MetricMap(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace relgeo
