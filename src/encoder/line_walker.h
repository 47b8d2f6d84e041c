// Internal to the encoder: the batched line walk (docs/design.md §4.2). No LibTorch
// here; the map evaluations that need it come from the plan (encoder_plan.h).
//
// Per block of queries and group of (query, anchor) pairs:
//   1. pre(z) for the queries (pre(a) for the anchors was computed at Create), where
//      pre is the map's affine first layer (fast path) or the identity (generic);
//   2. for a block of steps j, the interpolated rows pre(z) + (j/N)(pre(a) - pre(z)) of
//      every pair of the group (behind a LayerNorm, the weighted form of
//      affine_split.h), written into one (rows x h) buffer;
//   3. one batched call of the rest of the map (or of the whole map) on that buffer;
//      with the relu sign split, steps 2-3 instead interpolate the first layer's
//      end-point products and add each line's sign-changing units (sign_split.h);
//   4. one fused pass per line: transform, chord to the previous point, accumulate.
// Steps 2-3 are a batch producer's job (batch_producers.h), 1 and 4 the walker's.
// Only the last point of each line survives between step blocks, so the buffers are
// bounded by the rows per batch whatever N and K.
#pragma once

#include <cstdint>

#include "encoder/path_kernels.h"
#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::internal {

struct EncoderPlan;

// How the lines are cut into batched map calls: rows per batch = (pairs in a group) x
// (steps in a block), every interior step of a line in one batch when they fit, else
// blocks of steps carried over.
struct WalkShape {
  int64_t K = 0;  // anchors
  int64_t h = 0;  // width of the interpolated space
  int64_t m = 0;  // width of the map's output
  int N = 1;      // steps per line
  bool energy = false;
  ChordKind kind = ChordKind::kEuclidean;
  int64_t interior = 0;    // path points per line that need the map: N - 1
  int64_t step_block = 1;  // steps of a line per batch
  int64_t pair_group = 1;  // lines per batch
  int64_t batch_rows = 1;  // rows of the largest batch

  static WalkShape Of(const EncoderPlan& plan);
  // The position of step j on the line.
  float t(int64_t j) const { return static_cast<float>(static_cast<double>(j) / N); }
};

// One batched map call: steps [j0, j0 + sb) of the lines of pairs [g0, g0 + g) of a
// query block, line-major (row pp * sb + i is step j0 + i of pair g0 + pp).
struct Batch {
  int64_t j0 = 1, sb = 1, g0 = 0, g = 0;
  int64_t rows() const { return g * sb; }
};

// A block of queries [q0, q0 + q) and their end points. Pair p of the block is query
// p / K (of the block) with anchor p % K.
struct QueryBlock {
  int64_t q0 = 0, q = 0;
  const float* pre = nullptr;  // q x h: pre(z)
  const float* out = nullptr;  // q x m: f(z), transformed
  const float* lin = nullptr;  // q x o0: W0 relu(pre(z)) (sign split only)
  const float* cen = nullptr;  // q x d: c(z) / sqrt(d) (LayerNorm split only)
  const float* sigma = nullptr;  // q: sigma(z) (LayerNorm split only)
};

// The encoder's representations of `latents` (n x d, checked) against the plan's
// anchors, into `out` (n x K).
Status WalkLines(const EncoderPlan& plan, MatrixView latents, Matrix* out);

}  // namespace relgeo::internal
