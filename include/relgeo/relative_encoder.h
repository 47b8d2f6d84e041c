// Relative representations: every latent is described by its relation to a
// fixed, ordered set of K anchor latents of the same model.
//
//   RelativeEncoder  relgeo: straight-line pullback path length (or energy) to each anchor
//   CosineEncoder    the baseline of Moschella et al. 2023: cosine similarity to each anchor
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/status.h"

namespace relgeo {

enum class PathMode {
  kLength,  // L = sum_j delta_j: invariant to curve re-parametrisation (the paper's choice)
  kEnergy,  // E = (N/2) sum_j delta_j^2
};
const char* PathModeName(PathMode m);
Result<PathMode> ParsePathMode(const std::string& name);

// Arithmetic of the map's matrix products inside the encoder.
enum class EncoderPrecision {
  kFloat32,   // everything float32 (the default)
  kBFloat16,  // native MLP path only: GEMM inputs rounded to bfloat16, float32 accumulation
              // (oneDNN; ~1.8x the float32 GEMM rate on AVX512-BF16 CPUs). Elsewhere ignored.
};

// Limits, checked by RelativeEncoder::Create (and by the database and the tool,
// which take the same numbers): straight-line steps N and anchors K.
inline constexpr int kMaxSteps = 4096;
inline constexpr int64_t kMaxAnchors = 1000000;

struct EncoderOptions {
  int steps = 8;  // N in [1, kMaxSteps] segments on the straight line z -> a
  PathMode mode = PathMode::kLength;
  // Upper bound, in bytes (> 0), on the encoder's intermediate buffers (path points,
  // map outputs, estimated activations). Work is chunked over (query, anchor) pairs to fit.
  int64_t memory_budget_bytes = int64_t{256} << 20;
  // Path lengths are accumulated along the N steps, so a single call never needs
  // more than two map outputs per pair at once, whatever N.

  // When the map's forward starts with an affine layer x -> x W^T + b (torch.nn.Linear,
  // F.linear, or x @ W.t() + b on module parameters), compute W z + b once per query and
  // W a + b once per anchor and interpolate those pre-activations along the line instead
  // of running the first layer on every path point. Mathematically identical (the first
  // layer maps the straight line to a straight line); it is used only after a numerical
  // check on probe rows agrees with the plain forward. false = always the plain forward.
  bool allow_affine_fast_path = true;
  // With the fast path, when the rest of the map is a plain chain of linear layers,
  // transposed convolutions, reshapes and relu/sigmoid/tanh (docs/design.md §4.4), run
  // it natively (oneDNN sgemm + fused bias/activation/distance passes, no TorchScript
  // interpreter), checked on probe rows like the fast path.
  // false = run the rest through TorchScript.
  bool allow_native_mlp = true;
  // With the native path, when the rest starts with relu followed by a linear layer W:
  // a hidden unit whose pre-activation has the same sign at z and at a is linear (or
  // zero) along the whole line, so W's product is interpolated between the two end
  // points' products (computed once per query and per anchor) and only the units that
  // change sign go through W, per line (about half the units on random data). Linear
  // layers behind a later relu multiply only the inputs that are nonzero on some step
  // of a line (the active-interval product, docs/design.md §4.5; AVX-512 CPUs).
  // Mathematically identical; float32 only. false = dense products on every point.
  bool allow_relu_sign_split = true;
  // See EncoderPrecision; docs/performance.md reports what bfloat16 changes.
  EncoderPrecision precision = EncoderPrecision::kFloat32;
  // Path points per batched map call. 0 = automatic (a cache-friendly size, see
  // docs/performance.md); always further capped by memory_budget_bytes.
  int64_t rows_per_batch = 0;
};

class RelativeEncoder {
 public:
  // anchors: K x d latents of the anchor samples (1 <= K <= kMaxAnchors), encoded by
  // the same model as the queries will be. f(anchor) is computed here, once.
  static Result<std::unique_ptr<RelativeEncoder>> Create(std::shared_ptr<const MetricMap> map, MatrixView anchors,
                                                         const EncoderOptions& options = {});
  ~RelativeEncoder();

  // n x d latents -> n x K representations (row i, column k = L(z_i, a_k)).
  // Thread-safe: several threads may Encode with one encoder.
  Result<Matrix> Encode(MatrixView latents) const;

  int64_t num_anchors() const;
  int64_t latent_dim() const;
  const EncoderOptions& options() const;
  const MetricMap& map() const;
  // Whether the affine first-layer fast path is in use (see EncoderOptions).
  bool affine_fast_path() const;
  // Path points per batched map call actually used (after the memory budget).
  int64_t rows_per_batch() const;
  // How the map is evaluated, for logs and benchmarks: "torchscript forward",
  // "affine aten::linear 128->512 + torchscript rest",
  // "affine ... + native: relu linear 512->784 sigmoid (2 lanes, relu sign split avx512)".
  std::string execution_plan() const;

  struct Impl;

 private:
  explicit RelativeEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class CosineEncoder {
 public:
  static Result<CosineEncoder> Create(MatrixView anchors);
  // n x d -> n x K cosine similarities. Zero vectors give 0.
  Result<Matrix> Encode(MatrixView latents) const;
  int64_t num_anchors() const { return anchors_.rows(); }

 private:
  Matrix anchors_;  // rows L2-normalised
};

}  // namespace relgeo
