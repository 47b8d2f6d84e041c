#include "encoder/sign_split.h"

#include <algorithm>
#include <cmath>

#include "encoder/multiversion.h"

namespace relgeo::internal {

namespace {

// The changing units' indices and end points, compact (z, a: h floats each).
// Branch-free: the signs are data, and a mispredicted branch per unit costs more than
// the arithmetic.
int64_t CompactSignChanges(const float* pz, const float* pa, int64_t h, int32_t* idx, float* z, float* a) {
  int64_t nnz = 0;
  for (int64_t j = 0; j < h; ++j) {
    idx[nnz] = static_cast<int32_t>(j);
    nnz += (pz[j] < 0.0f && pa[j] > 0.0f) | (pz[j] > 0.0f && pa[j] < 0.0f);
  }
  for (int64_t k = 0; k < nnz; ++k) {
    z[k] = pz[idx[k]];
    a[k] = pa[idx[k]];
  }
  return nnz;
}

#ifdef RELGEO_HAVE_AVX512_KERNEL
// The same with AVX-512 compress, 16 units at a time.
__attribute__((target("avx512f"))) int64_t CompactSignChangesAvx512(const float* pz, const float* pa, int64_t h,
                                                                   int32_t* idx, float* z, float* a) {
  int64_t nnz = 0, j = 0;
  const __m512 zero = _mm512_setzero_ps();
  __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; j < h; j += 16) {
    const __mmask16 in = j + 16 <= h ? __mmask16(0xFFFF) : __mmask16((1u << (h - j)) - 1);
    const __m512 vz = _mm512_maskz_loadu_ps(in, pz + j), va = _mm512_maskz_loadu_ps(in, pa + j);
    const __mmask16 m = (_mm512_cmp_ps_mask(vz, zero, _CMP_LT_OQ) & _mm512_cmp_ps_mask(va, zero, _CMP_GT_OQ)) |
                        (_mm512_cmp_ps_mask(vz, zero, _CMP_GT_OQ) & _mm512_cmp_ps_mask(va, zero, _CMP_LT_OQ));
    // Compress in registers and store whole vectors (compress-to-memory is microcoded
    // on some CPUs): up to 15 floats past the new end are scratch, see the header.
    _mm512_storeu_si512(idx + nnz, _mm512_maskz_compress_epi32(m, lane));
    _mm512_storeu_ps(z + nnz, _mm512_maskz_compress_ps(m, vz));
    _mm512_storeu_ps(a + nnz, _mm512_maskz_compress_ps(m, va));
    nnz += __builtin_popcount(m);
    lane = _mm512_add_epi32(lane, _mm512_set1_epi32(16));
  }
  return nnz;
}
#endif

// The widest compaction this CPU runs, or the portable one when `isa` asks for it.
int64_t CompactSignChangesFor(GemmIsa isa, const float* pz, const float* pa, int64_t h, int32_t* idx, float* z,
                              float* a) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (CpuHasAvx512() && isa != GemmIsa::kPortable) return CompactSignChangesAvx512(pz, pa, h, idx, z, a);
#else
  (void)isa;
#endif
  return CompactSignChanges(pz, pa, h, idx, z, a);
}

}  // namespace

RELGEO_MULTIVERSION int64_t SignChangeCorrections(const float* pz, const float* pa, int64_t h, const float* t,
                                                  int64_t steps, int32_t* idx, float* C, int64_t ldc,
                                                  float* ends, GemmIsa isa) {
  float* z = ends;  // the end points of the changing units, compact
  float* a = ends + h + 16;
  const int64_t nnz = CompactSignChangesFor(isa, pz, pa, h, idx, z, a);
  for (int64_t s = 0; s < steps; ++s) {
    const float ts = t[s], us = 1.0f - ts;
    float* __restrict c = C + s * ldc;
    const float* __restrict zr = z;
    const float* __restrict ar = a;
#pragma omp simd
    for (int64_t k = 0; k < nnz; ++k) {
      const float zk = zr[k], ak = ar[k], p = zk + ts * (ak - zk);
      c[k] = (p > 0.0f ? p : 0.0f) - (us * (zk > 0.0f ? zk : 0.0f) + ts * (ak > 0.0f ? ak : 0.0f));
    }
  }
  return nnz;
}

RELGEO_MULTIVERSION int64_t SignChangeTents(const float* pz, const float* pa, int64_t h, const float* t,
                                            int64_t steps, int32_t* idx, float* coef, int32_t* bins, float* ends,
                                            int32_t* scratch, GemmIsa isa) {
  float* z = ends;
  float* a = ends + h + 16;
  int32_t* units = scratch;  // the changing units in index order, then their bins
  int32_t* bin = scratch + h + 16;
  const int64_t nnz = CompactSignChangesFor(isa, pz, pa, h, units, z, a);
  // bin(k) = #{s : t_s < t*_k}. z_k and a_k have opposite signs, so t*_k = |z_k| / (|z_k| +
  // |a_k|) and t_s < t*_k is t_s (|z_k| + |a_k|) < |z_k|: no division, and one vector
  // compare per step for 16 units (a binary search per unit mispredicted its branches;
  // the tent is continuous at t*, so a tie rounded either way gives the same sum).
#pragma omp simd
  for (int64_t k = 0; k < nnz; ++k) {
    z[k] = std::fabs(z[k]);
    a[k] = std::fabs(a[k]);
    bin[k] = 0;
  }
  for (int64_t s = 0; s < steps; ++s) {
    const float ts = t[s];
#pragma omp simd
    for (int64_t k = 0; k < nnz; ++k) bin[k] += ts * (z[k] + a[k]) < z[k] ? 1 : 0;
  }
  // Counting sort by bin: bins[b + 1] counts bin b, then holds its start, then (after
  // the fill moved every start to its bin's end) is shifted back.
  std::fill(bins, bins + steps + 2, 0);
  for (int64_t k = 0; k < nnz; ++k) ++bins[bin[k] + 1];
  for (int64_t b = 1; b <= steps + 1; ++b) bins[b] += bins[b - 1];
  for (int64_t k = 0; k < nnz; ++k) {
    const int32_t at = bins[bin[k]]++;
    idx[at] = units[k];
    coef[2 * at] = -a[k];
    coef[2 * at + 1] = -z[k];
  }
  for (int64_t b = steps; b >= 1; --b) bins[b] = bins[b - 1];
  bins[0] = 0;
  return nnz;
}

namespace {

// Y[s, c0:c1) += W c(t_s) from the tents, plain loops: the running prefix sums of
// B^beta and B^gamma over the bins in 64-column chunks, each row finished when its bin
// is (see TentGemmFn).
RELGEO_MULTIVERSION void TentGemmPortable(int64_t steps, const float* t, const int32_t* bins, const float* coef,
                                          const int32_t* idx, const float* W, int64_t ldw, int64_t c0, int64_t c1,
                                          float* Y, int64_t ldy) {
  for (int64_t c = c0; c < c1; c += 64) {
    const int64_t n = std::min<int64_t>(64, c1 - c);
    float sb[64] = {}, sg[64] = {};
    for (int64_t b = 0; b <= steps; ++b) {
      for (int64_t k = bins[b]; k < bins[b + 1]; ++k) {
        const float* w = W + static_cast<int64_t>(idx[k]) * ldw + c;
        const float be = coef[2 * k], ga = coef[2 * k + 1];
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          sb[i] += be * w[i];
          sg[i] += ga * w[i];
        }
      }
      if (b == steps) break;
      float* y = Y + b * ldy + c;
      const float ts = t[b], us = 1.0f - ts;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] += us * sg[i] - ts * sb[i];
    }
    for (int64_t s = 0; s < steps; ++s) {
      float* y = Y + s * ldy + c;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] += t[s] * sb[i];
    }
  }
}

#ifdef RELGEO_HAVE_AVX512_KERNEL
#pragma GCC push_options
#pragma GCC target("avx512f")

constexpr int64_t kPrefetchRows = 8;

// V vectors of 16 columns (the last masked to `tail`): the two running sums in 2 V
// registers, 2 V multiply-adds per unit on V loads of its row of W.
template <int V>
inline void TentBlock(int64_t steps, const float* t, const int32_t* bins, const float* coef, const int32_t* idx,
                      const float* W, int64_t ldw, __mmask16 tail, float* Y, int64_t ldy) {
  __m512 sb[V], sg[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) sb[v] = sg[v] = _mm512_setzero_ps();
  const int64_t nnz = bins[steps + 1];
  for (int64_t b = 0; b <= steps; ++b) {
    for (int64_t k = bins[b]; k < bins[b + 1]; ++k) {
      const float* w = W + static_cast<int64_t>(idx[k]) * ldw;
      // The rows are gathered, so the hardware prefetcher cannot guess the next ones.
      const float* ahead = W + static_cast<int64_t>(idx[std::min(k + kPrefetchRows, nnz - 1)]) * ldw;
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) _mm_prefetch(reinterpret_cast<const char*>(ahead + 16 * v), _MM_HINT_T0);
      const __m512 be = _mm512_set1_ps(coef[2 * k]), ga = _mm512_set1_ps(coef[2 * k + 1]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512 x = v == V - 1 ? _mm512_maskz_loadu_ps(tail, w + 16 * v) : _mm512_loadu_ps(w + 16 * v);
        sb[v] = _mm512_fmadd_ps(be, x, sb[v]);
        sg[v] = _mm512_fmadd_ps(ga, x, sg[v]);
      }
    }
    if (b == steps) break;
    const __m512 ts = _mm512_set1_ps(t[b]), us = _mm512_set1_ps(1.0f - t[b]);
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      float* y = Y + b * ldy + 16 * v;
      const __mmask16 m = v == V - 1 ? tail : __mmask16(0xFFFF);
      const __m512 r = _mm512_fnmadd_ps(ts, sb[v], _mm512_maskz_loadu_ps(m, y));
      _mm512_mask_storeu_ps(y, m, _mm512_fmadd_ps(us, sg[v], r));
    }
  }
  for (int64_t s = 0; s < steps; ++s) {
    const __m512 ts = _mm512_set1_ps(t[s]);
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      float* y = Y + s * ldy + 16 * v;
      const __mmask16 m = v == V - 1 ? tail : __mmask16(0xFFFF);
      _mm512_mask_storeu_ps(y, m, _mm512_fmadd_ps(ts, sb[v], _mm512_maskz_loadu_ps(m, y)));
    }
  }
}

// 64 columns at a time (8 running sums: enough independent multiply-adds to keep both
// FMA ports busy), then 16, then a masked tail.
void TentGemmAvx512(int64_t steps, const float* t, const int32_t* bins, const float* coef, const int32_t* idx,
                    const float* W, int64_t ldw, int64_t c0, int64_t c1, float* Y, int64_t ldy) {
  int64_t c = c0;
  for (; c + 64 <= c1; c += 64) TentBlock<4>(steps, t, bins, coef, idx, W + c, ldw, 0xFFFF, Y + c, ldy);
  for (; c + 16 <= c1; c += 16) TentBlock<1>(steps, t, bins, coef, idx, W + c, ldw, 0xFFFF, Y + c, ldy);
  if (c < c1) TentBlock<1>(steps, t, bins, coef, idx, W + c, ldw, __mmask16((1u << (c1 - c)) - 1), Y + c, ldy);
}

// The transposed convolution gathered by output pixel: for each output pixel, R rows x
// V vectors of 16 output channels in registers, summed over the changing units of the
// input pixels that reach it (units grouped by input pixel: gk = column of C, gw = the
// unit's weight block offset; pstart = group starts).
template <int R, int V>
void ConvTBlock(const ScatterConvT& t, const int32_t* gk, const int32_t* gw, const int32_t* pstart, const float* C,
                int64_t ldc, int64_t co0, float* Y, int64_t ldy) {
  const float* W = t.w.data() + co0;
  for (int64_t o = 0; o < t.out_pixels; ++o) {
    __m512 acc[R][V];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
    for (int32_t q = t.ofirst[o]; q < t.ofirst[o + 1]; ++q) {
      const float* Wt = W + t.o_tap[q];
      for (int32_t m = pstart[t.o_in[q]]; m < pstart[t.o_in[q] + 1]; ++m) {
        const float* w = Wt + gw[m];
        const float* c = C + gk[m];
        __m512 b[V];
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(w + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const __m512 a = _mm512_set1_ps(c[r * ldc]);
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(Y + r * ldy + o * t.cout + co0 + 16 * v, acc[r][v]);
  }
}

template <int R>
void ConvTRows(const ScatterConvT& t, const int32_t* gk, const int32_t* gw, const int32_t* pstart, const float* C,
               int64_t ldc, float* Y, int64_t ldy) {
  int64_t co = 0;
  for (; co + 32 <= t.cout; co += 32) ConvTBlock<R, 2>(t, gk, gw, pstart, C, ldc, co, Y, ldy);
  for (; co + 16 <= t.cout; co += 16) ConvTBlock<R, 1>(t, gk, gw, pstart, C, ldc, co, Y, ldy);
}

void GatheredConvTAvx512(const ScatterConvT& t, int64_t rows, int64_t nnz, const float* C, int64_t ldc,
                         const int32_t* idx, float* Y, int64_t ldy, int32_t* scratch) {
  // Group the changing units by input pixel (counting sort, stable).
  int32_t* gk = scratch;
  int32_t* gw = gk + nnz;
  int32_t* pstart = gw + nnz;
  int32_t* pix = pstart + t.in_pixels + 1;
  std::fill(pstart, pstart + t.in_pixels + 1, 0);
  for (int64_t k = 0; k < nnz; ++k) {
    pix[k] = static_cast<int32_t>(idx[k] % t.in_pixels);
    ++pstart[pix[k] + 1];
  }
  for (int64_t p = 0; p < t.in_pixels; ++p) pstart[p + 1] += pstart[p];
  for (int64_t k = 0; k < nnz; ++k) {
    const int32_t at = pstart[pix[k]]++;
    gk[at] = static_cast<int32_t>(k);
    gw[at] = static_cast<int32_t>((idx[k] / t.in_pixels) * t.taps * t.cout);
  }
  for (int64_t p = t.in_pixels; p > 0; --p) pstart[p] = pstart[p - 1];
  pstart[0] = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    const float* Cr = C + r0 * ldc;
    float* Yr = Y + r0 * ldy;
    switch (std::min<int64_t>(8, rows - r0)) {
      case 1: ConvTRows<1>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      case 2: ConvTRows<2>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      case 3: ConvTRows<3>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      case 4: ConvTRows<4>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      case 5: ConvTRows<5>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      case 6: ConvTRows<6>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      case 7: ConvTRows<7>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
      default: ConvTRows<8>(t, gk, gw, pstart, Cr, ldc, Yr, ldy); break;
    }
  }
}

#pragma GCC pop_options
#endif  // RELGEO_HAVE_AVX512_KERNEL

}  // namespace

ScatterConvT ScatterConvT::Build(const float* wt, int64_t cin, int64_t hin, int64_t win, int64_t cout, int64_t k,
                                 int64_t stride, int64_t pad, int64_t hout, int64_t wout) {
  ScatterConvT t;
  t.cin = cin, t.in_pixels = hin * win, t.cout = cout, t.taps = k * k, t.out_pixels = hout * wout;
  t.w.resize(static_cast<size_t>(cin * t.taps * cout));
  for (int64_t ci = 0; ci < cin; ++ci)
    for (int64_t tap = 0; tap < t.taps; ++tap)
      for (int64_t co = 0; co < cout; ++co) t.w[(ci * t.taps + tap) * cout + co] = wt[(co * t.taps + tap) * cin + ci];
  t.first.push_back(0);
  for (int64_t iy = 0; iy < hin; ++iy)
    for (int64_t ix = 0; ix < win; ++ix) {
      for (int64_t ky = 0; ky < k; ++ky)
        for (int64_t kx = 0; kx < k; ++kx) {
          const int64_t oy = iy * stride - pad + ky, ox = ix * stride - pad + kx;
          if (oy < 0 || oy >= hout || ox < 0 || ox >= wout) continue;
          t.w_off.push_back(static_cast<int32_t>((ky * k + kx) * cout));
          t.y_off.push_back(static_cast<int32_t>((oy * wout + ox) * cout));
        }
      t.first.push_back(static_cast<int32_t>(t.w_off.size()));
    }
  t.ofirst.assign(static_cast<size_t>(t.out_pixels + 1), 0);
  for (int32_t y : t.y_off) ++t.ofirst[y / cout + 1];
  for (int64_t o = 0; o < t.out_pixels; ++o) t.ofirst[o + 1] += t.ofirst[o];
  t.o_in.resize(t.y_off.size());
  t.o_tap.resize(t.y_off.size());
  std::vector<int32_t> fill(t.ofirst.begin(), t.ofirst.end() - 1);
  for (int64_t p = 0; p < t.in_pixels; ++p)
    for (int32_t q = t.first[p]; q < t.first[p + 1]; ++q) {
      const int32_t at = fill[t.y_off[q] / cout]++;
      t.o_in[at] = static_cast<int32_t>(p);
      t.o_tap[at] = t.w_off[q];
    }
  return t;
}

RELGEO_MULTIVERSION void ScatterConvTRows(const ScatterConvT& t, int64_t rows, int64_t nnz, const float* C,
                                          int64_t ldc, const int32_t* idx, float* Y, int64_t ldy) {
  const int64_t cout = t.cout, block = t.taps * cout;
  // One row at a time: its output (out_pixels x cout floats) stays in L1 while every
  // changing unit stamps its taps x cout weights into it.
  for (int64_t r = 0; r < rows; ++r) {
    float* y = Y + r * ldy;
    const float* c = C + r * ldc;
    for (int64_t k = 0; k < nnz; ++k) {
      const float v = c[k];
      const int64_t ci = idx[k] / t.in_pixels, p = idx[k] % t.in_pixels;
      const float* wc = t.w.data() + ci * block;
      for (int32_t q = t.first[p]; q < t.first[p + 1]; ++q) {
        const float* wp = wc + t.w_off[q];
        float* yp = y + t.y_off[q];
#pragma omp simd
        for (int64_t co = 0; co < cout; ++co) yp[co] += v * wp[co];
      }
    }
  }
}

RELGEO_MULTIVERSION void AddPixelMajorToChannelMajor(const ScatterConvT& t, const float* S, int64_t rows, int64_t ld,
                                                     float* Y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = S + r * ld;
    float* dst = Y + r * ld;
    for (int64_t co = 0; co < t.cout; ++co)
      for (int64_t px = 0; px < t.out_pixels; ++px) dst[co * t.out_pixels + px] += src[px * t.cout + co];
  }
}

GatheredConvTFn GatheredConvTFor(const ScatterConvT& t) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (CpuHasAvx512() && t.cout % 16 == 0) return &GatheredConvTAvx512;
#endif
  return nullptr;
}

TentGemmFn TentGemmFor(GemmIsa isa) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  const bool avx512 = CpuHasAvx512();
  if (isa == GemmIsa::kAvx512) return avx512 ? &TentGemmAvx512 : nullptr;
  if (isa == GemmIsa::kBest && avx512) return &TentGemmAvx512;
#else
  if (isa == GemmIsa::kAvx512) return nullptr;
#endif
  return &TentGemmPortable;
}

const char* TentGemmName(TentGemmFn fn) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (fn == &TentGemmAvx512) return "avx512";
#endif
  return fn == &TentGemmPortable ? "portable" : "none";
}

}  // namespace relgeo::internal
