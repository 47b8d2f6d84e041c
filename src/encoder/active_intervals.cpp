#include "encoder/active_intervals.h"

#include <algorithm>
#include <cassert>

#include "encoder/multiversion.h"

namespace relgeo::internal {

namespace {

// For every 8-bit mask of nonzero rows: its interval's code and length.
struct IntervalTable {
  uint8_t code[256];
  uint8_t span[256];
  constexpr IntervalTable() : code(), span() {
    code[0] = kIntervalInactive;
    for (int m = 1; m < 256; ++m) {
      int first = 0, last = 7;
      while (!((m >> first) & 1)) ++first;
      while (!((m >> last) & 1)) --last;
      code[m] = static_cast<uint8_t>(first * 8 + last);
      span[m] = static_cast<uint8_t>(last - first + 1);
    }
  }
};
constexpr IntervalTable kIntervals;

// masks[k] bit r: X[r, k] != 0 (true for NaN).
RELGEO_MULTIVERSION void RowMasksPortable(const float* X, int64_t ldx, int rows, int64_t in, uint8_t* masks) {
  std::fill(masks, masks + in, uint8_t{0});
  for (int r = 0; r < rows; ++r) {
    const float* x = X + r * ldx;
    for (int64_t k = 0; k < in; ++k) masks[k] |= static_cast<uint8_t>(!(x[k] == 0.0f) << r);
  }
}

#ifdef RELGEO_HAVE_AVX512_KERNEL
// The same 16 units at a time: each row's compare mask ORs its bit into the units'
// lanes, then the lanes narrow to bytes.
__attribute__((target("avx512f"))) void RowMasksAvx512(const float* X, int64_t ldx, int rows, int64_t in,
                                                       uint8_t* masks) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t k = 0; k < in; k += 16) {
    const __mmask16 live = in - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (in - k)) - 1);
    __m512i m = _mm512_setzero_si512();
    for (int r = 0; r < rows; ++r) {
      const __m512 x = _mm512_maskz_loadu_ps(live, X + r * ldx + k);
      const __mmask16 nz = _mm512_mask_cmp_ps_mask(live, x, zero, _CMP_NEQ_UQ);
      m = _mm512_mask_or_epi32(m, nz, m, _mm512_set1_epi32(1 << r));
    }
    _mm512_mask_cvtepi32_storeu_epi8(masks + k, live, m);
  }
}
#endif

// Y[r, c0:c1) = sum over the intervals' units of X[r, k] W^T[k, c0:c1).
RELGEO_MULTIVERSION void IntervalGemmPortable(const float* X, int64_t ldx, int rows, const int32_t* idx,
                                              const int32_t* starts, const float* W, int64_t ldw, int64_t c0,
                                              int64_t c1, float* Y, int64_t ldy) {
  for (int r = 0; r < rows; ++r) std::fill(Y + r * ldy + c0, Y + r * ldy + c1, 0.0f);
  for (int c = 0; c < kIntervalInactive; ++c) {
    const int first = c / 8, last = c % 8;
    for (int32_t q = starts[c]; q < starts[c + 1]; ++q) {
      const int64_t k = idx[q];
      const float* w = W + k * ldw;
      for (int r = first; r <= last; ++r) {
        const float a = X[r * ldx + k];
        float* y = Y + r * ldy;
        for (int64_t j = c0; j < c1; ++j) y[j] += a * w[j];
      }
    }
  }
}

#ifdef RELGEO_HAVE_AVX512_KERNEL
#pragma GCC push_options
#pragma GCC target("avx512f")

// The units of one interval [F, L]: V vectors of their row of W^T (the last masked to
// `tail`) loaded once, multiplied into rows F..L of the register block.
template <int F, int L, int V>
inline __attribute__((always_inline)) void Span(__m512 (&acc)[kIntervalBlockRows][V], const float* const* x,
                                                const int32_t* q, const int32_t* end, const float* W, int64_t ldw,
                                                __mmask16 tail) {
  for (; q < end; ++q) {
    const int64_t k = q[0];
    const float* w = W + k * ldw;
    // The rows are gathered, so the hardware prefetcher cannot guess the next ones.
    const float* ahead = W + static_cast<int64_t>(q[kIntervalIdxPad]) * ldw;
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) _mm_prefetch(reinterpret_cast<const char*>(ahead + 16 * v), _MM_HINT_T0);
    __m512 b[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) b[v] = v == V - 1 ? _mm512_maskz_loadu_ps(tail, w + 16 * v) : _mm512_loadu_ps(w + 16 * v);
#pragma GCC unroll 8
    for (int r = F; r <= L; ++r) {
      const __m512 a = _mm512_set1_ps(x[r][k]);
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
}

// One register block: up to 8 rows x V vectors of 16 columns, summed over every
// interval's units (a switch per interval, not per unit), then stored.
template <int V>
void IntervalBlock(const float* X, int64_t ldx, int rows, const int32_t* idx, const int32_t* starts, const float* W,
                   int64_t ldw, __mmask16 tail, float* Y, int64_t ldy) {
  __m512 acc[kIntervalBlockRows][V];
#pragma GCC unroll 8
  for (int r = 0; r < kIntervalBlockRows; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* x[kIntervalBlockRows];
  for (int r = 0; r < kIntervalBlockRows; ++r) x[r] = X + std::min(r, rows - 1) * ldx;
  for (int c = 0; c < kIntervalInactive; ++c) {
    const int32_t* q = idx + starts[c];
    const int32_t* end = idx + starts[c + 1];
    if (q == end) continue;
    switch (c) {
#define RELGEO_SPAN(F, L) \
  case F * 8 + L:         \
    Span<F, L, V>(acc, x, q, end, W, ldw, tail); \
    break;
      RELGEO_SPAN(0, 0)
      RELGEO_SPAN(0, 1)
      RELGEO_SPAN(0, 2)
      RELGEO_SPAN(0, 3)
      RELGEO_SPAN(0, 4)
      RELGEO_SPAN(0, 5)
      RELGEO_SPAN(0, 6)
      RELGEO_SPAN(0, 7)
      RELGEO_SPAN(1, 1)
      RELGEO_SPAN(1, 2)
      RELGEO_SPAN(1, 3)
      RELGEO_SPAN(1, 4)
      RELGEO_SPAN(1, 5)
      RELGEO_SPAN(1, 6)
      RELGEO_SPAN(1, 7)
      RELGEO_SPAN(2, 2)
      RELGEO_SPAN(2, 3)
      RELGEO_SPAN(2, 4)
      RELGEO_SPAN(2, 5)
      RELGEO_SPAN(2, 6)
      RELGEO_SPAN(2, 7)
      RELGEO_SPAN(3, 3)
      RELGEO_SPAN(3, 4)
      RELGEO_SPAN(3, 5)
      RELGEO_SPAN(3, 6)
      RELGEO_SPAN(3, 7)
      RELGEO_SPAN(4, 4)
      RELGEO_SPAN(4, 5)
      RELGEO_SPAN(4, 6)
      RELGEO_SPAN(4, 7)
      RELGEO_SPAN(5, 5)
      RELGEO_SPAN(5, 6)
      RELGEO_SPAN(5, 7)
      RELGEO_SPAN(6, 6)
      RELGEO_SPAN(6, 7)
      RELGEO_SPAN(7, 7)
#undef RELGEO_SPAN
      default:
        break;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kIntervalBlockRows; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) {
      float* y = Y + r * ldy + 16 * v;
      if (v == V - 1)
        _mm512_mask_storeu_ps(y, tail, acc[r][v]);
      else
        _mm512_storeu_ps(y, acc[r][v]);
    }
  }
}

// 48 columns at a time (up to 24 running sums in registers), then the rest masked.
void IntervalGemmAvx512(const float* X, int64_t ldx, int rows, const int32_t* idx, const int32_t* starts,
                        const float* W, int64_t ldw, int64_t c0, int64_t c1, float* Y, int64_t ldy) {
  int64_t c = c0;
  for (; c + kIntervalChunk <= c1; c += kIntervalChunk)
    IntervalBlock<3>(X, ldx, rows, idx, starts, W + c, ldw, __mmask16(0xFFFF), Y + c, ldy);
  const int64_t rest = c1 - c;
  if (rest <= 0) return;
  const __mmask16 tail = __mmask16((1u << (rest - 16 * ((rest - 1) / 16))) - 1);
  if (rest > 32)
    IntervalBlock<3>(X, ldx, rows, idx, starts, W + c, ldw, tail, Y + c, ldy);
  else if (rest > 16)
    IntervalBlock<2>(X, ldx, rows, idx, starts, W + c, ldw, tail, Y + c, ldy);
  else
    IntervalBlock<1>(X, ldx, rows, idx, starts, W + c, ldw, tail, Y + c, ldy);
}

#pragma GCC pop_options
#endif  // RELGEO_HAVE_AVX512_KERNEL

}  // namespace

int64_t SortByActiveInterval(const float* X, int64_t ldx, int rows, int64_t in, int32_t* idx, int32_t* starts,
                             uint8_t* masks, GemmIsa isa) {
  assert(rows >= 1 && rows <= kIntervalBlockRows);  // a row's bit in a uint8_t mask
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (isa != GemmIsa::kPortable && CpuHasAvx512())
    RowMasksAvx512(X, ldx, rows, in, masks);
  else
#endif
    RowMasksPortable(X, ldx, rows, in, masks);
  // Counting sort by interval (stable: increasing units within a group).
  int32_t next[kIntervalStarts] = {};
  int64_t work = 0;
  for (int64_t k = 0; k < in; ++k) {
    ++next[kIntervals.code[masks[k]]];
    work += kIntervals.span[masks[k]];
  }
  int32_t pos = 0;
  for (int c = 0; c < kIntervalStarts; ++c) {
    starts[c] = pos;
    pos += next[c];
    next[c] = starts[c];
  }
  for (int64_t k = 0; k < in; ++k) idx[next[kIntervals.code[masks[k]]]++] = static_cast<int32_t>(k);
  // What the kernel prefetches past the last active unit: valid units.
  for (int64_t i = 0; i < kIntervalIdxPad; ++i) idx[in + i] = in > 0 ? idx[in - 1] : 0;
  return work;
}

void IntervalScratch::Reserve(int64_t lines, int64_t steps, int64_t max_in) {
  const int64_t blocks = lines * ((steps + kIntervalBlockRows - 1) / kIntervalBlockRows);
  stride = max_in + kIntervalIdxPad;
  idx.resize(static_cast<size_t>(blocks * stride));
  starts.resize(static_cast<size_t>(blocks * kIntervalStarts));
  masks.resize(static_cast<size_t>(max_in));
}

bool IntervalBatchProduct(IntervalGemmFn fn, const float* X, int64_t in, int64_t lines, int64_t steps, const float* W,
                          int64_t out, int64_t panel, double max_density, IntervalScratch* s, float* Y,
                          int64_t* work) {
  const int64_t per_line = (steps + kIntervalBlockRows - 1) / kIntervalBlockRows, blocks = lines * per_line;
  auto block_rows = [&](int64_t k, int64_t* row0) {  // block k's first row and row count
    const int64_t i0 = (k % per_line) * kIntervalBlockRows;
    *row0 = (k / per_line) * steps + i0;
    return static_cast<int>(std::min<int64_t>(kIntervalBlockRows, steps - i0));
  };
  int64_t covered = 0;
  for (int64_t k = 0; k < blocks; ++k) {
    int64_t r0;
    const int rows = block_rows(k, &r0);
    covered += SortByActiveInterval(X + r0 * in, in, rows, in, s->idx.data() + k * s->stride,
                                    s->starts.data() + k * kIntervalStarts, s->masks.data(), GemmIsa::kBest);
  }
  if (work) *work = covered;
  if (covered > max_density * static_cast<double>(lines * steps * in)) return false;
  for (int64_t c0 = 0; c0 < out; c0 += panel)
    for (int64_t k = 0; k < blocks; ++k) {
      int64_t r0;
      const int rows = block_rows(k, &r0);
      fn(X + r0 * in, in, rows, s->idx.data() + k * s->stride, s->starts.data() + k * kIntervalStarts, W, out, c0,
         std::min(out, c0 + panel), Y + r0 * out, out);
    }
  return true;
}

IntervalGemmFn IntervalGemmFor(GemmIsa isa) {
  if (isa == GemmIsa::kPortable) return &IntervalGemmPortable;
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (CpuHasAvx512()) return &IntervalGemmAvx512;
#endif
  return nullptr;
}

const char* IntervalGemmName(IntervalGemmFn fn) {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  if (fn == &IntervalGemmAvx512) return "avx512";
#endif
  return fn == &IntervalGemmPortable ? "portable" : "none";
}

}  // namespace relgeo::internal
