#include "encoder/path_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// Hot loops are compiled for AVX-512, AVX2 and the baseline, chosen at load time
// (GCC function multi-versioning), so the portable binary still uses wide vectors.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define RELGEO_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RELGEO_MULTIVERSION
#endif

namespace relgeo::internal {

RELGEO_MULTIVERSION void InterpolateRow(const float* p, const float* q, float t, int64_t n, float* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = p[i] + t * (q[i] - p[i]);
}

RELGEO_MULTIVERSION static float SumSquares(const float* u, int64_t m) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < m; ++i) s += u[i] * u[i];
  return s;
}

RELGEO_MULTIVERSION float Chord(const float* u, const float* v, int64_t m) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < m; ++i) {
    const float e = u[i] - v[i];
    s += e * e;
  }
  return std::sqrt(s);
}

RELGEO_MULTIVERSION static void Scale(const float* y, float a, int64_t m, float* out) {
#pragma omp simd
  for (int64_t i = 0; i < m; ++i) out[i] = y[i] * a;
}

void TransformRow(const float* y, int64_t m, ChordKind kind, float* out) {
  switch (kind) {
    case ChordKind::kEuclidean:
      if (out != y) std::memcpy(out, y, sizeof(float) * m);
      return;
    case ChordKind::kSphere: {
      const float norm = std::max(std::sqrt(SumSquares(y, m)), 1e-30f);
      Scale(y, 1.0f / norm, m, out);
      return;
    }
    case ChordKind::kFisher: {
      // sqrt(softmax(y)) = exp((y - logsumexp(y)) / 2), stable for huge logits.
      float mx = y[0];
      for (int64_t i = 1; i < m; ++i) mx = std::max(mx, y[i]);
      double s = 0.0;
      for (int64_t i = 0; i < m; ++i) s += std::exp(static_cast<double>(y[i] - mx));
      const float lse = mx + static_cast<float>(std::log(s));
      for (int64_t i = 0; i < m; ++i) out[i] = std::exp(0.5f * (y[i] - lse));
      return;
    }
  }
}

double DeltaFromChord(double chord, ChordKind kind) {
  switch (kind) {
    case ChordKind::kEuclidean: return chord;
    case ChordKind::kSphere: return 2.0 * std::asin(std::min(1.0, chord * 0.5));
    case ChordKind::kFisher: return 4.0 * std::asin(std::min(1.0, chord * 0.5));
  }
  return chord;
}

void AccumulateLine(const float* rows, int64_t steps, int64_t m, ChordKind kind, bool energy, const float* prev,
                    float* scratch, float* last, double* acc) {
  double a = 0.0;
  const float* p = prev;
  for (int64_t s = 0; s < steps; ++s) {
    const float* cur = rows + s * m;
    if (kind != ChordKind::kEuclidean) {
      float* buf = scratch + (s & 1) * m;
      TransformRow(cur, m, kind, buf);
      cur = buf;
    }
    const double delta = DeltaFromChord(Chord(cur, p, m), kind);
    a += energy ? delta * delta : delta;
    p = cur;
  }
  *acc += a;
  if (p != last) std::memmove(last, p, sizeof(float) * m);
}

}  // namespace relgeo::internal
