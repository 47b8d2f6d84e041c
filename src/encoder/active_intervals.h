// Internal to the encoder: a linear layer behind a relu, evaluated on the path points
// of lines (docs/design.md §4.5). No LibTorch here.
//
// Behind a relu most of a layer's inputs are 0 at a given path point (60% of the
// trained MLP decoder's second hidden layer), and along a line a unit is active on an
// interval of steps: its pre-activation is piecewise linear in t with few kinks, so
// it crosses 0 rarely more than once between a query and an anchor. Per block of at
// most 8 consecutive steps of a line the units are sorted by their interval [first,
// last] of nonzero inputs (units that are 0 on the whole block drop out), and each
// unit's row of W^T is multiplied into the rows of its interval only. The product then
// does the multiply-adds of the nonzero inputs (plus the rare zeros inside an
// interval), while every loaded piece of a row of W^T still feeds up to 8 rows of
// multiply-adds, so the kernel stays near the FMA units' peak. It is exact: the dense
// product's sums without the zero terms, in another order.
#pragma once

#include <cstdint>
#include <vector>

#include "encoder/sign_split.h"  // GemmIsa

namespace relgeo::internal {

// Rows (steps) per block, output columns per register block (3 AVX-512 vectors).
constexpr int kIntervalBlockRows = 8;
constexpr int64_t kIntervalChunk = 48;
// A unit's interval as first * 8 + last (first <= last < 8); kIntervalInactive for a
// unit that is 0 on every row of the block. Group c of a sorted block is
// idx[starts[c] .. starts[c + 1]).
constexpr int kIntervalInactive = 64;
constexpr int kIntervalStarts = kIntervalInactive + 2;
// Slack after a block's idx entries (the kernel prefetches that far ahead).
constexpr int64_t kIntervalIdxPad = 8;

// Sorts the `in` units of one block (X: `rows` <= 8 rows, row stride ldx) by the
// interval of rows where X is nonzero (NaN counts as nonzero, so it propagates like
// the dense product's). Writes the units, grouped by interval, to idx (in +
// kIntervalIdxPad entries) and the group starts to `starts` (kIntervalStarts
// entries); `masks` is `in` bytes of scratch. Returns the multiply-adds per
// output column the intervals cover (sum of their lengths).
int64_t SortByActiveInterval(const float* X, int64_t ldx, int rows, int64_t in, int32_t* idx, int32_t* starts,
                             uint8_t* masks, GemmIsa isa);

// Y[r, c0:c1) = (X W^T)[r, c0:c1) for the block's rows r < rows (written, not added),
// from SortByActiveInterval's idx and starts; W^T row-major (a row per unit, stride
// ldw), Y with row stride ldy. c0 a multiple of kIntervalChunk.
using IntervalGemmFn = void (*)(const float* X, int64_t ldx, int rows, const int32_t* idx, const int32_t* starts,
                                const float* W, int64_t ldw, int64_t c0, int64_t c1, float* Y, int64_t ldy);
// kBest: the AVX-512 kernel, or nullptr on CPUs without it (the dense GEMM is then
// the faster product); kPortable: plain loops (tests).
IntervalGemmFn IntervalGemmFor(GemmIsa isa);
const char* IntervalGemmName(IntervalGemmFn fn);

// The sorted blocks of one batch: `blocks` x (width + kIntervalIdxPad) units, their group
// starts, and the row masks' scratch; sized once for the largest batch.
struct IntervalScratch {
  std::vector<int32_t> idx, starts;
  std::vector<uint8_t> masks;
  int64_t stride = 0;  // idx entries per block
  void Reserve(int64_t lines, int64_t steps, int64_t max_in);
};

// Y (lines x steps rows, row stride out) = X (same rows, row stride in) W^T for a batch
// of `lines` lines of `steps` consecutive rows: every line cut into blocks of at most 8
// steps, each block sorted, then `fn` over W^T's columns in panels of `panel` (a
// multiple of kIntervalChunk) that stay in L2 while every block uses them. Returns
// false, Y untouched, when the intervals cover more than `max_density` of the (unit,
// row) products; *work (if given) gets the products they cover.
bool IntervalBatchProduct(IntervalGemmFn fn, const float* X, int64_t in, int64_t lines, int64_t steps, const float* W,
                          int64_t out, int64_t panel, double max_density, IntervalScratch* s, float* Y,
                          int64_t* work = nullptr);

}  // namespace relgeo::internal
