#include "encoder/sign_split.h"

#include <algorithm>

#include "encoder/multiversion.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RELGEO_HAVE_AVX512_KERNEL 1
#endif

namespace relgeo::internal {

// Branch-free throughout: the signs are data, and a mispredicted branch per unit
// costs more than the arithmetic.
RELGEO_MULTIVERSION int64_t SignChangeCorrections(const float* pz, const float* pa, int64_t h, const float* t,
                                                  int64_t steps, int32_t* idx, float* C, int64_t ldc,
                                                  float* ends) {
  int64_t nnz = 0;
  for (int64_t j = 0; j < h; ++j) {
    idx[nnz] = static_cast<int32_t>(j);
    nnz += (pz[j] < 0.0f && pa[j] > 0.0f) | (pz[j] > 0.0f && pa[j] < 0.0f);
  }
  float* z = ends;  // the end points of the changing units, compact
  float* a = ends + nnz;
  for (int64_t k = 0; k < nnz; ++k) {
    z[k] = pz[idx[k]];
    a[k] = pa[idx[k]];
  }
  for (int64_t s = 0; s < steps; ++s) {
    const float ts = t[s], us = 1.0f - ts;
    float* c = C + s * ldc;
#pragma omp simd
    for (int64_t k = 0; k < nnz; ++k)
      c[k] = std::max(0.0f, z[k] + ts * (a[k] - z[k])) - (us * std::max(0.0f, z[k]) + ts * std::max(0.0f, a[k]));
  }
  return nnz;
}

namespace {

RELGEO_MULTIVERSION void GatheredGemmPortable(int64_t rows, int64_t nnz, const float* C, int64_t ldc,
                                              const int32_t* idx, const float* W, int64_t ldw, int64_t c0, int64_t c1,
                                              float* Y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    float* y = Y + r * ldy;
    for (int64_t k = 0; k < nnz; ++k) {
      const float a = C[r * ldc + k];
      const float* w = W + static_cast<int64_t>(idx[k]) * ldw;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) y[c] += a * w[c];
    }
  }
}

#ifdef RELGEO_HAVE_AVX512_KERNEL
#pragma GCC push_options
#pragma GCC target("avx512f")

constexpr int64_t kPrefetchRows = 8;

// R rows x V vectors of 16 columns held in registers (R = 8, V = 3: 24 accumulators,
// 3 loads of W and 8 broadcasts of C per inner step), the last vector masked to `tail`.
template <int R, int V>
inline void Avx512Block(int64_t nnz, const float* C, int64_t ldc, const int32_t* idx, const float* W, int64_t ldw,
                        __mmask16 tail, float* Y, int64_t ldy) {
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < nnz; ++k) {
    const float* w = W + static_cast<int64_t>(idx[k]) * ldw;
    // The rows are gathered, so the hardware prefetcher cannot guess the next ones.
    const float* ahead = W + static_cast<int64_t>(idx[std::min(k + kPrefetchRows, nnz - 1)]) * ldw;
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) _mm_prefetch(reinterpret_cast<const char*>(ahead + 16 * v), _MM_HINT_T0);
    __m512 b[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) b[v] = v == V - 1 ? _mm512_maskz_loadu_ps(tail, w + 16 * v) : _mm512_loadu_ps(w + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(C[r * ldc + k]);
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) {
      float* y = Y + r * ldy + 16 * v;
      const __mmask16 m = v == V - 1 ? tail : __mmask16(0xFFFF);
      _mm512_mask_storeu_ps(y, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y), acc[r][v]));
    }
}

template <int R>
void Avx512Rows(int64_t nnz, const float* C, int64_t ldc, const int32_t* idx, const float* W, int64_t ldw, int64_t c0,
                int64_t c1, float* Y, int64_t ldy) {
  int64_t c = c0;
  for (; c + 48 <= c1; c += 48) Avx512Block<R, 3>(nnz, C, ldc, idx, W + c, ldw, 0xFFFF, Y + c, ldy);
  for (; c + 16 <= c1; c += 16) Avx512Block<R, 1>(nnz, C, ldc, idx, W + c, ldw, 0xFFFF, Y + c, ldy);
  if (c < c1) Avx512Block<R, 1>(nnz, C, ldc, idx, W + c, ldw, __mmask16((1u << (c1 - c)) - 1), Y + c, ldy);
}

void GatheredGemmAvx512(int64_t rows, int64_t nnz, const float* C, int64_t ldc, const int32_t* idx, const float* W,
                        int64_t ldw, int64_t c0, int64_t c1, float* Y, int64_t ldy) {
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    const float* Cr = C + r0 * ldc;
    float* Yr = Y + r0 * ldy;
    switch (std::min<int64_t>(8, rows - r0)) {
      case 1: Avx512Rows<1>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      case 2: Avx512Rows<2>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      case 3: Avx512Rows<3>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      case 4: Avx512Rows<4>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      case 5: Avx512Rows<5>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      case 6: Avx512Rows<6>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      case 7: Avx512Rows<7>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
      default: Avx512Rows<8>(nnz, Cr, ldc, idx, W, ldw, c0, c1, Yr, ldy); break;
    }
  }
}

#pragma GCC pop_options
#endif  // RELGEO_HAVE_AVX512_KERNEL

}  // namespace

GatheredGemmFn GatheredGemmFor(GemmIsa isa) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (isa == GemmIsa::kAvx512) return avx512 ? &GatheredGemmAvx512 : nullptr;
  if (isa == GemmIsa::kBest && avx512) return &GatheredGemmAvx512;
#else
  if (isa == GemmIsa::kAvx512) return nullptr;
#endif
  return &GatheredGemmPortable;
}

const char* GatheredGemmName(GatheredGemmFn fn) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (fn == &GatheredGemmAvx512) return "avx512";
#endif
  return fn == &GatheredGemmPortable ? "portable" : "none";
}

}  // namespace relgeo::internal
