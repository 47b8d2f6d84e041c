// Internal to the encoder: the ReLU sign split (no LibTorch here).
//
// When the map's rest starts with relu followed by a linear layer W (the first
// affine layer having been split off, see affine_split.h), the layer's output along
// the straight line with pre-activations p(t) = (1-t) p_z + t p_a is
//
//   W relu(p(t)) = (1-t) W relu(p_z) + t W relu(p_a) + W c(t),
//   c(t)         = relu(p(t)) - ((1-t) relu(p_z) + t relu(p_a)).
//
// A unit whose pre-activation has the same sign at both ends is linear (or zero)
// along the whole line, so its c_j(t) is 0: only the units that change sign
// between z and a (typically about half of them) enter the matrix product. The two
// end-point products are computed once per query and once per anchor, and each
// (query, anchor) line needs a product over its own subset of W's rows: for a linear
// layer in the tent form below (two multiply-adds per unit), for a transposed
// convolution a gathered product per step.
#pragma once

#include <cstdint>
#include <vector>

namespace relgeo::internal {

// For one line with pre-activations pz, pa (h floats) and `steps` values t[s]:
// writes the indices of the units with pz_j * pa_j < 0 (increasing) to idx, and the
// corrections c_j(t[s]) at those units to C (row s at C + s * ldc, ldc >= h).
// idx needs h + 16 entries (the tail is scratch) and `ends` 2 h + 32 floats of scratch.
// Returns how many units change sign.
enum class GemmIsa : int;  // kBest, or kPortable to force the portable loops (tests)
int64_t SignChangeCorrections(const float* pz, const float* pa, int64_t h, const float* t, int64_t steps,
                              int32_t* idx, float* C, int64_t ldc, float* ends, GemmIsa isa);

enum class GemmIsa : int {
  kBest,      // the widest kernel this CPU runs
  kAvx512,    // AVX-512F kernel (64 columns in registers)
  kPortable,  // plain loops, compiled for the baseline (and AVX2 where GCC clones it)
};

// The tent form of the same product, for a linear layer W (docs/design.md §4.5). A
// changing unit's correction is a tent over the line: with its crossing
// t*_j = pz_j / (pz_j - pa_j),
//
//   c_j(t) = t beta_j (t < t*_j),  (1 - t) gamma_j (t >= t*_j),
//   beta_j = -|pa_j|,  gamma_j = -|pz_j|.
//
// With the step block's increasing t[0..steps) the units are grouped by
// bin(j) = #{s : t_s < t*_j} in 0..steps; with B^beta_b = sum over bin b of beta_j W_j
// (B^gamma_b likewise),
//
//   W c(t_s) = t_s sum_{b > s} B^beta_b + (1 - t_s) sum_{b <= s} B^gamma_b,
//
// so each changing unit's row of W is multiplied twice, whatever the number of steps
// (the gathered product per step did it `steps` times).
//
// Writes the changing units ordered by bin to idx, their (beta, gamma) pairs to coef
// (2 nnz floats), and bins[b] = the first unit of bin b (steps + 2 entries,
// bins[steps + 1] = nnz). Scratch: `ends` 2 h + 32 floats, `scratch` 2 h + 32 int32.
// Returns nnz.
int64_t SignChangeTents(const float* pz, const float* pa, int64_t h, const float* t, int64_t steps, int32_t* idx,
                        float* coef, int32_t* bins, float* ends, int32_t* scratch, GemmIsa isa);

// Y[s, c0:c1) += (W c(t_s))[c0:c1) for s < steps, from SignChangeTents' output; W is
// row-major (a row per unit) with row stride ldw, Y has row stride ldy.
using TentGemmFn = void (*)(int64_t steps, const float* t, const int32_t* bins, const float* coef, const int32_t* idx,
                            const float* W, int64_t ldw, int64_t c0, int64_t c1, float* Y, int64_t ldy);
// nullptr when this CPU cannot run the requested kernel.
TentGemmFn TentGemmFor(GemmIsa isa);
const char* TentGemmName(TentGemmFn fn);

// The same split for a transposed convolution after the relu (the paper's conv
// decoder): a sign-changing unit is one input element (channel ci, pixel p), whose
// contribution is its weights W[ci] (taps x cout) stamped around p. The layer is laid
// out for that: w is cin x taps x cout (tap = ky k + kx), and for every input pixel the
// list of its valid (tap, output pixel) pairs.
struct ScatterConvT {
  int64_t cin = 0, in_pixels = 0, cout = 0, taps = 0, out_pixels = 0;
  std::vector<float> w;               // cin x taps x cout
  std::vector<int32_t> first;         // in_pixels + 1: pixel p's pairs are [first[p], first[p + 1])
  std::vector<int32_t> w_off, y_off;  // per pair: tap * cout, output pixel * cout
  // The same pairs by output pixel: o's are [ofirst[o], ofirst[o + 1]), each an input
  // pixel and tap * cout.
  std::vector<int32_t> ofirst, o_in, o_tap;

  // wt: the native plan's (cout k k) x cin layout (row (co k + ky) k + kx).
  static ScatterConvT Build(const float* wt, int64_t cin, int64_t hin, int64_t win, int64_t cout, int64_t k,
                            int64_t stride, int64_t pad, int64_t hout, int64_t wout);
};

// Y (rows x (out_pixels x cout), pixel-major) += the transposed convolution of the
// sparse inputs sum_k C[r, k] e_{idx[k]}, unit index = ci * in_pixels + pixel. The
// portable kernel: every unit stamps its weights into each row's output in memory.
void ScatterConvTRows(const ScatterConvT& t, int64_t rows, int64_t nnz, const float* C, int64_t ldc,
                      const int32_t* idx, float* Y, int64_t ldy);

// The same product, gathered by output pixel so that the sums stay in registers (AVX-512,
// cout a multiple of 16), writing (not adding to) Y. `scratch` holds 3 nnz + in_pixels + 1
// int32. nullptr when this CPU or layer cannot run it.
using GatheredConvTFn = void (*)(const ScatterConvT& t, int64_t rows, int64_t nnz, const float* C, int64_t ldc,
                                 const int32_t* idx, float* Y, int64_t ldy, int32_t* scratch);
GatheredConvTFn GatheredConvTFor(const ScatterConvT& t);

// Y (rows x ld, channel-major: co * out_pixels + pixel) += S (rows x ld, pixel-major,
// as the kernels above write it).
void AddPixelMajorToChannelMajor(const ScatterConvT& t, const float* S, int64_t rows, int64_t ld, float* Y);

}  // namespace relgeo::internal
