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
// (query, anchor) line needs a product over its own subset of W's rows: a
// "gathered" GEMM whose inner dimension is a list of row indices.
#pragma once

#include <cstdint>

namespace relgeo::internal {

// For one line with pre-activations pz, pa (h floats) and `steps` values t[s]:
// writes the indices of the units with pz_j * pa_j < 0 (increasing) to idx, and the
// corrections c_j(t[s]) at those units to C (row s at C + s * ldc, ldc >= h).
// `ends` is scratch for 2 h floats. Returns how many units change sign.
int64_t SignChangeCorrections(const float* pz, const float* pa, int64_t h, const float* t, int64_t steps,
                              int32_t* idx, float* C, int64_t ldc, float* ends);

// Y[r, c0:c1) += sum_k C[r, k] W[idx[k], c0:c1) for r < rows, k < nnz; W is row-major
// with row stride ldw, Y has row stride ldy, C row stride ldc.
using GatheredGemmFn = void (*)(int64_t rows, int64_t nnz, const float* C, int64_t ldc, const int32_t* idx,
                                const float* W, int64_t ldw, int64_t c0, int64_t c1, float* Y, int64_t ldy);

enum class GemmIsa {
  kBest,      // the widest kernel this CPU runs
  kAvx512,    // AVX-512F register-blocked kernel (8 rows x 48 columns)
  kPortable,  // plain loops, compiled for the baseline (and AVX2 where GCC clones it)
};
// nullptr when this CPU cannot run the requested kernel.
GatheredGemmFn GatheredGemmFor(GemmIsa isa);
const char* GatheredGemmName(GatheredGemmFn fn);

}  // namespace relgeo::internal
