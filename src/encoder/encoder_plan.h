// Internal to the encoder: what RelativeEncoder::Create decides (docs/design.md §4.1,
// §4.8) and the map evaluations it needs for that: pre(x), the rest of the map and
// f on end points, used for the anchors here and for every block of queries by the
// line walker (line_walker.h).
//
// No LibTorch in this header: the plan's LibTorch state (the map, its affine split,
// the native plan's weights) is opaque here and every evaluation that needs LibTorch
// lives in encoder_plan.cpp, so that the line walker and the batch producers compile
// without <torch/...> (each file that includes it costs ~10-15 s of compile).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "encoder/active_intervals.h"
#include "encoder/path_kernels.h"
#include "encoder/sign_split.h"
#include "relgeo/matrix.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/status.h"

namespace relgeo::internal {

// Default path points per batched map call when the options leave it at 0 (measured,
// docs/performance.md): a native lane is fastest when its buffers stay within ~4 MiB
// (cache; the MLP decoder is flat from 64 to 2048 rows, the conv decoder best at 32),
// capped at 512; a TorchScript rest or forward pays the interpreter and per-op passes
// per call and is best near 2048.
constexpr int64_t kNativeLaneBytes = int64_t{4} << 20;
constexpr int64_t kDefaultRowsNativeMax = 512;
constexpr int64_t kDefaultRowsTorchScript = 2048;
// Output columns per pass of the sign split's tent kernel: W^T's panel (h x 192
// floats, 384 KiB for h = 512) stays in a core's L2 while every line of a batch uses it.
constexpr int64_t kSignSplitPanel = 192;
static_assert(kSignSplitPanel % kIntervalChunk == 0, "the active-interval kernel's panels start on a chunk");
// The sign split pays per line (unit indices, end-point interpolation) and its GEMM
// reuses each loaded row of W^T across the line's steps in a block: with one step per
// block (N = 2) the dense product is faster (measured 1.3x); from 2 steps on (N = 3:
// 1.12x, N = 4: 1.36x, N = 8: 1.76x) the split is.
constexpr int64_t kSignSplitMinSteps = 2;
// The active-interval product pays while the intervals cover at most this fraction of
// a batch's (unit, row) products; above it the dense GEMM is faster (bench_intervals:
// 1.07x at 0.86, 0.92x at 1.0 on an AMD EPYC).
constexpr double kIntervalMaxDensity = 0.9;

// Row-major float rows that a LibTorch tensor owns, handed out without a copy: an
// aliasing shared_ptr that keeps the tensor alive and points at its data.
using TensorRows = std::shared_ptr<float>;

struct EncoderPlan {
  struct Torch;  // the map, its affine split and native rest (defined in encoder_plan.cpp)
  std::shared_ptr<Torch> torch;

  int64_t num_anchors = 0;  // K
  int64_t hdim = 0;         // width of the interpolated space: the first layer's output (affine split) or d
  int64_t mdim = 0;         // width of the map's output
  int steps = 8;            // N
  bool energy = false;      // PathMode::kEnergy
  ChordKind kind = ChordKind::kEuclidean;

  // The fast paths in use (docs/design.md §4.3-§4.5).
  bool affine() const;               // the affine first-layer split
  bool normalized() const;           // ... behind a LayerNorm (affine_split.h)
  const MlpPlan* native() const;     // the rest as a native plan, or nullptr (TorchScript)
  // The relu sign split: the tent kernel for a first linear layer, or the scatter
  // layout of a first transposed convolution (with its register-blocked kernel when
  // the CPU runs it).
  TentGemmFn sign_split = nullptr;
  std::optional<ScatterConvT> conv_split;
  GatheredConvTFn conv_gather = nullptr;
  bool split_on() const { return sign_split != nullptr || conv_split.has_value(); }
  // The active-interval product (active_intervals.h) for the native plan's linear
  // layers behind a relu: interval_layer[l] for layer l, and the kernel.
  IntervalGemmFn interval_gemm = nullptr;
  std::vector<bool> interval_layer;
  bool interval_on(size_t l) const { return interval_gemm && l < interval_layer.size() && interval_layer[l]; }

  // Batch sizes (ChooseSizes, docs/design.md §4.8).
  int lanes = 1;            // concurrent batches (native path)
  int64_t rows = 1;         // path points per batched map call
  int64_t query_block = 1;  // queries whose end points are held at once

  // The anchors' end points, computed once at Create.
  TensorRows anchor_pre;  // K x hdim: pre(a)
  TensorRows anchor_out;  // K x m: f(a), transformed
  TensorRows anchor_lin;  // K x o0: W0 relu(pre(a)) without bias (sign split only)
  // With a LayerNorm split (normalized()): the anchors' centred rows c(a) / sqrt(d)
  // (K x d) and sigma(a) (K), the folded bias b' (hdim), d and the LayerNorm's eps.
  TensorRows anchor_cen, anchor_sigma, norm_bias;
  int64_t ndim = 0;
  float norm_eps = 0;
};

// Plans the encoder of `map` for `anchors` (options already validated): detects and
// checks the fast paths, chooses the sign split and the batch sizes, and computes
// the anchors' end points.
Result<std::unique_ptr<const EncoderPlan>> PlanEncoder(std::shared_ptr<const MetricMap> map, MatrixView anchors,
                                                       const EncoderOptions& options);

// RelativeEncoder::execution_plan(): "torchscript forward", "affine ... + torchscript
// rest" or "affine ... + native: ... (2 lanes, relu sign split avx512)".
std::string DescribePlan(const EncoderPlan& plan);

// The end points of a block of queries (CPU, row-major): pre(z) (n x hdim), f(z)
// transformed (n x m), with the sign split W0 relu(pre(z)) (n x o0), and with a
// LayerNorm split c(z) / sqrt(d) (n x d) and sigma(z) (n). Throws on failure; call
// inside InTorchScope.
struct QueryEnds {
  TensorRows pre, out, lin, cen, sigma;
};
QueryEnds EvaluateQueryEnds(const EncoderPlan& plan, MatrixView queries);

// The raw map output (n x m, CPU float32) for n rows of the interpolated space on the
// TorchScript path (the rest after the affine split, or the whole map). `rows` must
// stay valid while the result is used: for an identity rest the output is `rows`.
Result<TensorRows> EvaluateRest(const EncoderPlan& plan, float* rows, int64_t n);

// Runs `fn` in LibTorch's inference mode under GuardTorch: what it throws becomes a
// Status prefixed with `context`; a Status thrown as StatusError keeps its code.
Status InTorchScope(const std::string& context, const std::function<void()>& fn);

}  // namespace relgeo::internal
