// Internal: the GEMMs of the encoder's native path. oneDNN's public dnnl_sgemm from
// Debian's libdnnl, named explicitly (linked, or on the PyTorch-wheel build loaded
// privately), so the fast path does not depend on what the LibTorch in the process
// happens to export (docs/design.md §4.4).
#pragma once

#include "encoder/path_kernels.h"

namespace relgeo::internal {

// Whether libdnnl could be loaded (always, when linked; see gemm.cpp for the wheel
// build, which loads it privately). Without it the native path is not planned.
bool OneDnnAvailable();

// Row-major C = alpha op(A) op(B) + beta C through dnnl_sgemm; 0 on success.
int OneDnnSgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// oneDNN's bfloat16 GEMM (bf16 inputs, float32 accumulation). libdnnl exports it
// but its headers do not declare it, so it is looked up in the linked libdnnl at
// run time; null when absent (EncoderPrecision::kBFloat16 then stays float32).
MlpPlan::Bgemm OneDnnBf16Gemm();

}  // namespace relgeo::internal
