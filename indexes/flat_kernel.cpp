// Exact top-k inner-product search (flat_kernel.h, docs/search.md).
//
// Work is cut into (database block, query tile) tasks. A task is one dnnl_sgemm
// (query tile x block^T, a score tile of at most 512 KB, so it is still in L2 when
// read) and one pass over the tile that keeps, per query, a k-entry min-heap: a
// score enters only when it beats the heap's minimum, tested 16 at a time with
// AVX-512 where the CPU has it. Each thread owns heaps for every query of the
// batch, so any thread may take any task; threads take whole blocks (and loop
// over the query tiles, reusing the block from cache) when there are enough blocks
// for all of them, and single (block, tile) tasks otherwise. The per-thread heaps
// are merged at the end.
#include "flat_kernel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "encoder/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
// GCC 12 warns inside its own _mm512_reduce_add_ps (an _mm256_undefined_pd operand).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace relgeo::internal {
namespace {

constexpr int64_t kTileFloats = 128 * 1024;    // 512 KB score tile
constexpr int64_t kBlockBytes = 1 << 20;       // 1 MB database block
constexpr int64_t kMaxBatch = 4096;            // queries per pass (bounds the per-thread heaps)
constexpr int64_t kDirectQueries = 4;          // at most this many: AVX-512 dots instead of sgemm

// k-entry min-heaps, one per query, in two flat arrays (score, row position).
class Heaps {
 public:
  Heaps(int64_t nq, int64_t cap)
      : cap_(cap), score_(nq * cap), pos_(nq * cap), size_(nq, 0),
        min_(nq, -std::numeric_limits<float>::infinity()) {}

  float threshold(int64_t q) const { return min_[q]; }
  int64_t size(int64_t q) const { return size_[q]; }
  const float* scores(int64_t q) const { return score_.data() + q * cap_; }
  const int64_t* positions(int64_t q) const { return pos_.data() + q * cap_; }

  // Caller checked s > threshold(q).
  void Push(int64_t q, float s, int64_t p) {
    float* hs = score_.data() + q * cap_;
    int64_t* hp = pos_.data() + q * cap_;
    int64_t& n = size_[q];
    if (n < cap_) {  // sift up
      int64_t i = n++;
      while (i > 0) {
        const int64_t parent = (i - 1) / 2;
        if (hs[parent] <= s) break;
        hs[i] = hs[parent];
        hp[i] = hp[parent];
        i = parent;
      }
      hs[i] = s;
      hp[i] = p;
      if (n == cap_) min_[q] = hs[0];
      return;
    }
    int64_t i = 0;  // replace the minimum, sift down
    for (;;) {
      int64_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && hs[c + 1] < hs[c]) ++c;
      if (hs[c] >= s) break;
      hs[i] = hs[c];
      hp[i] = hp[c];
      i = c;
    }
    hs[i] = s;
    hp[i] = p;
    min_[q] = hs[0];
  }

 private:
  int64_t cap_;
  std::vector<float> score_;
  std::vector<int64_t> pos_;
  std::vector<int64_t> size_;
  std::vector<float> min_;
};

// What a scan does with a score that beats the threshold.
// An exception from `keep` cannot leave an OpenMP region: the first is kept (the
// rest of the search then rejects everything) and rethrown after the region.
struct Sink {
  Heaps* heaps;
  const std::function<bool(int64_t)>* keep;
  std::mutex* keep_mu;
  std::exception_ptr* keep_error;  // guarded by keep_mu
  void Offer(int64_t q, float s, int64_t p) const {
    if (keep) {
      std::lock_guard<std::mutex> lock(*keep_mu);
      if (*keep_error) return;
      try {
        if (!(*keep)(p)) return;
      } catch (...) {
        *keep_error = std::current_exception();
        return;
      }
    }
    heaps->Push(q, s, p);
  }
};

void ScanScalar(const float* s, int64_t len, int64_t base, int64_t q, const Sink& sink) {
  for (int64_t j = 0; j < len; ++j)
    if (s[j] > sink.heaps->threshold(q)) sink.Offer(q, s[j], base + j);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) void ScanAvx512(const float* s, int64_t len, int64_t base, int64_t q,
                                                   const Sink& sink) {
  int64_t j = 0;
  __m512 thr = _mm512_set1_ps(sink.heaps->threshold(q));
  for (; j + 16 <= len; j += 16) {
    __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j), thr, _CMP_GT_OQ);
    if (!m) continue;
    while (m) {
      const int b = __builtin_ctz(m);
      m &= m - 1;
      if (s[j + b] > sink.heaps->threshold(q)) sink.Offer(q, s[j + b], base + j + b);
    }
    thr = _mm512_set1_ps(sink.heaps->threshold(q));
  }
  ScanScalar(s + j, len - j, base + j, q, sink);
}
bool HasAvx512() { return __builtin_cpu_supports("avx512f"); }

// out[j * rows + r] = <q_j, x_r> for a few queries (qn <= kDirectQueries): a GEMV is
// bound by reading x, and sgemm's setup per call costs more than the dots at this
// size. Four rows at a time, so each query vector chunk is loaded once per four rows.
__attribute__((target("avx512f"))) void DotsAvx512(const float* q, int64_t qn, const float* x, int64_t rows, int64_t d,
                                                   float* out) {
  const __mmask16 tail = static_cast<__mmask16>((1u << (d % 16)) - 1);
  const int64_t full = d / 16 * 16;
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* x0 = x + r * d;
    for (int64_t j = 0; j < qn; ++j) {
      const float* qj = q + j * d;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t c = 0; c < full; c += 16) {
        const __m512 qv = _mm512_loadu_ps(qj + c);
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + c), qv, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + d + c), qv, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + 2 * d + c), qv, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + 3 * d + c), qv, a3);
      }
      if (tail) {
        const __m512 qv = _mm512_maskz_loadu_ps(tail, qj + full);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + full), qv, a0);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + d + full), qv, a1);
        a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + 2 * d + full), qv, a2);
        a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x0 + 3 * d + full), qv, a3);
      }
      float* o = out + j * rows + r;
      o[0] = _mm512_reduce_add_ps(a0);
      o[1] = _mm512_reduce_add_ps(a1);
      o[2] = _mm512_reduce_add_ps(a2);
      o[3] = _mm512_reduce_add_ps(a3);
    }
  }
  for (; r < rows; ++r)
    for (int64_t j = 0; j < qn; ++j) {
      __m512 a = _mm512_setzero_ps();
      for (int64_t c = 0; c < full; c += 16)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * d + c), _mm512_loadu_ps(q + j * d + c), a);
      if (tail) a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x + r * d + full), _mm512_maskz_loadu_ps(tail, q + j * d + full), a);
      out[j * rows + r] = _mm512_reduce_add_ps(a);
    }
}
#else
void ScanAvx512(const float* s, int64_t len, int64_t base, int64_t q, const Sink& sink) { ScanScalar(s, len, base, q, sink); }
bool HasAvx512() { return false; }
void DotsAvx512(const float*, int64_t, const float*, int64_t, int64_t, float*) {}
#endif

// One pass over at most kMaxBatch queries.
// x: the rows themselves, or null and `source` decodes them.
bool Pass(const float* direct, const RowSource* source, int64_t n, int64_t d, const float* q, int64_t nq, int64_t k,
          const std::function<bool(int64_t)>* keep, int64_t* labels, float* scores) {
  const int64_t cap = std::min(k, n);
  const int64_t nb = std::min(FlatBlockRows(d), n);
  const int64_t mq = std::max<int64_t>(1, std::min(nq, kTileFloats / nb));
  const int64_t blocks = (n + nb - 1) / nb, tiles = (nq + mq - 1) / mq;
  const int threads = std::max(1, omp_get_max_threads());
  const bool whole_blocks = blocks >= threads || tiles == 1;
  const int64_t tasks = whole_blocks ? blocks : blocks * tiles;
  const int team = static_cast<int>(std::min<int64_t>(threads, tasks));
  const bool avx512 = HasAvx512();
  std::vector<Heaps> heaps;
  heaps.reserve(team);
  for (int t = 0; t < team; ++t) heaps.emplace_back(nq, cap);
  std::mutex keep_mu;
  std::exception_ptr keep_error;
  std::atomic<bool> failed{false};

#pragma omp parallel num_threads(team)
  {
    Heaps& h = heaps[omp_get_thread_num()];
    const Sink sink{&h, keep, &keep_mu, &keep_error};
    std::vector<float> tile(mq * nb), scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t b = whole_blocks ? task : task / tiles;
      const int64_t t0 = whole_blocks ? 0 : task % tiles, t1 = whole_blocks ? tiles : t0 + 1;
      const int64_t r0 = b * nb, rows = std::min(nb, n - r0);
      if (!direct && scratch.empty()) scratch.resize(nb * d);
      const float* x = direct ? direct + r0 * d : (*source)(r0, rows, scratch.data());
      for (int64_t t = t0; t < t1 && !failed.load(std::memory_order_relaxed); ++t) {
        const int64_t q0 = t * mq, qn = std::min(mq, nq - q0);
        if (avx512 && qn <= kDirectQueries) {
          DotsAvx512(q + q0 * d, qn, x, rows, d, tile.data());
        } else if (OneDnnSgemm('N', 'T', qn, rows, d, 1.0f, q + q0 * d, d, x, d, 0.0f, tile.data(), rows) != 0) {
          failed = true;
          break;
        }
        for (int64_t i = 0; i < qn; ++i) {
          const float* s = tile.data() + i * rows;
          if (avx512)
            ScanAvx512(s, rows, r0, q0 + i, sink);
          else
            ScanScalar(s, rows, r0, q0 + i, sink);
        }
      }
    }
  }
  if (keep_error) std::rethrow_exception(keep_error);
  if (failed) return false;

  // Merge: best first, ties by row position (as FAISS's scan order would).
  std::vector<std::pair<float, int64_t>> all;
  for (int64_t i = 0; i < nq; ++i) {
    all.clear();
    for (const Heaps& h : heaps)
      for (int64_t j = 0; j < h.size(i); ++j) all.emplace_back(h.scores(i)[j], h.positions(i)[j]);
    const int64_t got = std::min<int64_t>(k, static_cast<int64_t>(all.size()));
    auto better = [](const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    std::partial_sort(all.begin(), all.begin() + got, all.end(), better);
    for (int64_t j = 0; j < k; ++j) {
      labels[i * k + j] = j < got ? all[j].second : -1;
      scores[i * k + j] = j < got ? all[j].first : -std::numeric_limits<float>::infinity();
    }
  }
  return true;
}

// Passes of at most kMaxBatch queries.
bool Run(const float* direct, const RowSource* source, int64_t n, int64_t d, const float* q, int64_t nq, int64_t k,
         const std::function<bool(int64_t)>* keep, int64_t* labels, float* scores) {
  if (k <= 0 || nq <= 0) return true;
  if (n <= 0) {
    std::fill(labels, labels + nq * k, -1);
    std::fill(scores, scores + nq * k, -std::numeric_limits<float>::infinity());
    return true;
  }
  for (int64_t q0 = 0; q0 < nq; q0 += kMaxBatch) {
    const int64_t m = std::min(kMaxBatch, nq - q0);
    if (!Pass(direct, source, n, d, q + q0 * d, m, k, keep, labels + q0 * k, scores + q0 * k)) return false;
  }
  return true;
}

}  // namespace

bool FlatKernelAvailable() { return OneDnnAvailable(); }

int64_t FlatBlockRows(int64_t dim) {
  const int64_t rows = kBlockBytes / (4 * std::max<int64_t>(dim, 1));
  return std::clamp<int64_t>(rows / 16 * 16, 16, 8192);
}

bool FlatTopK(const float* x, int64_t n, int64_t d, const float* q, int64_t nq, int64_t k,
              const std::function<bool(int64_t)>* keep, int64_t* labels, float* scores) {
  return Run(x, nullptr, n, d, q, nq, k, keep, labels, scores);
}

namespace {
float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      uint32_t m = man;
      do {
        ++e;
        m <<= 1;
      } while (!(m & 0x400u));
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) void DecodeFp16Avx512(const uint16_t* c, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i))));
  for (; i < n; ++i) out[i] = HalfToFloat(c[i]);
}
__attribute__((target("avx512f"))) void DecodeSq8Avx512(const uint8_t* c, int64_t count, int64_t d, const float* vmin,
                                                        const float* vdiff, float* out) {
  const __m512 half = _mm512_set1_ps(0.5f), inv = _mm512_set1_ps(1.0f / 255.0f);
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t* row = c + r * d;
    float* o = out + r * d;
    int64_t j = 0;
    for (; j + 16 <= d; j += 16) {
      const __m512 code = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + j))));
      const __m512 unit = _mm512_mul_ps(_mm512_add_ps(code, half), inv);
      _mm512_storeu_ps(o + j, _mm512_fmadd_ps(unit, _mm512_loadu_ps(vdiff + j), _mm512_loadu_ps(vmin + j)));
    }
    for (; j < d; ++j) o[j] = vmin[j] + (row[j] + 0.5f) / 255.0f * vdiff[j];
  }
}
#endif
}  // namespace

namespace {
float InnerProductScalar(const float* a, const float* b, int64_t d) {
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= d; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  for (; i < d; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) float InnerProductAvx512(const float* a, const float* b, int64_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < d; i += 16) {
    const __mmask16 m = d - i >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (d - i)) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#endif
using IpFn = float (*)(const float*, const float*, int64_t);
const IpFn kInnerProduct = [] {
#if defined(__x86_64__) && defined(__GNUC__)
  if (HasAvx512()) return static_cast<IpFn>(&InnerProductAvx512);
#endif
  return static_cast<IpFn>(&InnerProductScalar);
}();
}  // namespace

float InnerProduct(const float* a, const float* b, int64_t d) { return kInnerProduct(a, b, d); }

void DecodeFp16(const uint16_t* codes, int64_t count, int64_t d, float* out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (HasAvx512()) return DecodeFp16Avx512(codes, count * d, out);
#endif
  for (int64_t i = 0; i < count * d; ++i) out[i] = HalfToFloat(codes[i]);
}

void DecodeSq8(const uint8_t* codes, int64_t count, int64_t d, const float* vmin, const float* vdiff, float* out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (HasAvx512()) return DecodeSq8Avx512(codes, count, d, vmin, vdiff, out);
#endif
  for (int64_t r = 0; r < count; ++r)
    for (int64_t j = 0; j < d; ++j) out[r * d + j] = vmin[j] + (codes[r * d + j] + 0.5f) / 255.0f * vdiff[j];
}

bool FlatTopK(const RowSource& rows, int64_t n, int64_t d, const float* q, int64_t nq, int64_t k,
              const std::function<bool(int64_t)>* keep, int64_t* labels, float* scores) {
  return Run(nullptr, &rows, n, d, q, nq, k, keep, labels, scores);
}
}  // namespace relgeo::internal
