// Internal: relgeo's exact inner-product search over row-major vectors (the Flat
// index's search, docs/search.md). Large-block GEMM (oneDNN's dnnl_sgemm, one call
// per query tile x database block, single-threaded inside relgeo's one OpenMP pool)
// fused with a per-query top-k that reads each score tile while it is in cache, so
// the full nq x n score matrix never exists. No FAISS here: FAISS keeps the vectors
// and the file format; this only reads them.
#pragma once

#include <cstdint>
#include <functional>

namespace relgeo::internal {

// Whether the kernel can run (oneDNN's sgemm loaded); FAISS's own search otherwise.
bool FlatKernelAvailable();

// Rows the kernel scores per GEMM call (a block of the database), chosen so a block
// of `dim` floats per row stays in L2.
int64_t FlatBlockRows(int64_t dim);

// For each of the nq queries (row-major, nq x d), the k rows of x (n x d) with the
// largest inner products, best first: positions 0..n-1 in `labels` (-1 and -inf
// where fewer than k rows qualify) and scores in `scores` (nq x k each). `keep`,
// when set, is asked about a row position only when that row would enter a query's
// current top k; it is called under a lock (one call at a time), and what it throws
// is rethrown once the pool has stopped. Returns false when the GEMM failed (the
// outputs are then unspecified).
bool FlatTopK(const float* x, int64_t n, int64_t d, const float* q, int64_t nq, int64_t k,
              const std::function<bool(int64_t)>* keep, int64_t* labels, float* scores);

// As above over rows that are stored compressed: `rows(r0, count, scratch)` returns
// rows [r0, r0 + count) as float32 (count <= FlatBlockRows(d)), decoded into
// `scratch` (count x d floats, one per thread) or pointing at them directly. It is
// called concurrently from the pool's threads.
using RowSource = std::function<const float*(int64_t r0, int64_t count, float* scratch)>;
bool FlatTopK(const RowSource& rows, int64_t n, int64_t d, const float* q, int64_t nq, int64_t k,
              const std::function<bool(int64_t)>* keep, int64_t* labels, float* scores);

// <a, b> over d floats, AVX-512 where the CPU has it (HNSW's distance, flat_kernel.cpp).
float InnerProduct(const float* a, const float* b, int64_t d);

// Decoders for RowSource over FAISS's scalar-quantiser codes (count rows of d):
// IEEE half precision (QT_fp16), and 8-bit codes with per-dimension ranges
// (QT_8bit: x = vmin + (code + 0.5) / 255 * vdiff), AVX-512 where the CPU has it.
void DecodeFp16(const uint16_t* codes, int64_t count, int64_t d, float* out);
void DecodeSq8(const uint8_t* codes, int64_t count, int64_t d, const float* vmin, const float* vdiff, float* out);

}  // namespace relgeo::internal
