#include "encoder/path_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "encoder/multiversion.h"

namespace relgeo::internal {

RELGEO_MULTIVERSION void InterpolateRow(const float* p, const float* q, float t, int64_t n, float* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = p[i] + t * (q[i] - p[i]);
}

RELGEO_MULTIVERSION void CombineRows(const float* p, const float* q, const float* c, float alpha, float beta,
                                     float gamma, int64_t n, float* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = alpha * p[i] + beta * q[i] + gamma * c[i];
}

RELGEO_MULTIVERSION float Dot(const float* u, const float* v, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += u[i] * v[i];
  return s;
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

namespace relgeo::internal {
namespace {

// expf to ~2 ulp (Cephes polynomial), branch- and call-free so that the compiler
// vectorises the loops that use it (rounding by the 1.5 * 2^23 trick, bit-cast scale).
inline float FastExp(float x) {
  x = x < -87.3365447504f ? -87.3365447504f : x;
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return y * __builtin_bit_cast(float, bits);
}

RELGEO_MULTIVERSION void BiasRelu(float* row, int64_t n, const float* bias) {
  if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = std::max(0.0f, row[i] + bias[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = std::max(0.0f, row[i]);
  }
}

RELGEO_MULTIVERSION void BiasSigmoid(float* row, int64_t n, const float* bias) {
  if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = 1.0f / (1.0f + FastExp(-(row[i] + bias[i])));
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = 1.0f / (1.0f + FastExp(-row[i]));
  }
}

// tanh to ~1e-6 relative, vectorisable: an odd polynomial near 0 (where 1 - 2/(e^2x + 1)
// would cancel), 1 - 2/(e^2x + 1) elsewhere, saturated where tanh rounds to +-1.
inline float FastTanh(float x) {
  const float a = std::min(std::abs(x), 9.0f);
  const float a2 = a * a;
  const float small = a * (1.0f + a2 * (-0.333333333f + a2 * (0.133333333f + a2 * -0.0539682540f)));
  const float large = 1.0f - 2.0f / (FastExp(2.0f * a) + 1.0f);
  return std::copysign(a < 0.125f ? small : large, x);
}

RELGEO_MULTIVERSION void BiasTanh(float* row, int64_t n, const float* bias) {
  if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = FastTanh(row[i] + bias[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = FastTanh(row[i]);
  }
}

RELGEO_MULTIVERSION void Bias(float* row, int64_t n, const float* bias) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) row[i] += bias[i];
}

// One activation on a row, with the bias added first (bias may be null), in one pass.
void BiasAct(float* row, int64_t n, const float* bias, Act a) {
  switch (a) {
    case Act::kRelu: BiasRelu(row, n, bias); return;
    case Act::kSigmoid: BiasSigmoid(row, n, bias); return;
    case Act::kTanh: BiasTanh(row, n, bias); return;
  }
}

}  // namespace

void ApplyActs(float* row, int64_t n, const float* bias, const std::vector<Act>& acts) {
  if (acts.empty()) {
    if (bias) Bias(row, n, bias);
    return;
  }
  BiasAct(row, n, bias, acts[0]);
  for (size_t i = 1; i < acts.size(); ++i) BiasAct(row, n, nullptr, acts[i]);
}

RELGEO_MULTIVERSION void ToBFloat16(const float* x, int64_t n, uint16_t* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    out[i] = static_cast<uint16_t>(u >> 16);
  }
}

// cols (cout k k) x (rows hin win), one GEMM row per (oc, ky, kx), scattered into
// the rows' NCHW output images.
static void Col2Im(const MlpPlan::Layer& L, const float* cols, int64_t rows, float* dst) {
  const int64_t hw = L.hin * L.win, ohw = L.hout * L.wout, n = rows * hw;
  std::memset(dst, 0, sizeof(float) * rows * L.out);
  for (int64_t oc = 0; oc < L.cout; ++oc)
    for (int64_t ky = 0; ky < L.k; ++ky)
      for (int64_t kx = 0; kx < L.k; ++kx) {
        const float* col = cols + ((oc * L.k + ky) * L.k + kx) * n;
        // valid ix range for this kx: 0 <= ix*s - pad + kx < wout
        int64_t ix0 = 0, ix1 = L.win;
        while (ix0 < ix1 && ix0 * L.stride - L.pad + kx < 0) ++ix0;
        while (ix1 > ix0 && (ix1 - 1) * L.stride - L.pad + kx >= L.wout) --ix1;
        for (int64_t r = 0; r < rows; ++r) {
          float* plane = dst + r * L.out + oc * ohw;
          const float* cr = col + r * hw;
          for (int64_t iy = 0; iy < L.hin; ++iy) {
            const int64_t oy = iy * L.stride - L.pad + ky;
            if (oy < 0 || oy >= L.hout) continue;
            float* orow = plane + oy * L.wout - L.pad + kx;
            const float* c = cr + iy * L.win;
            for (int64_t ix = ix0; ix < ix1; ++ix) orow[ix * L.stride] += c[ix];
          }
        }
      }
}

bool MlpPlan::Product(size_t l, const float* x, int64_t rows, float* dst, float* buf3, uint16_t* half) const {
  const Layer& L = layers[l];
  if (L.kind == Layer::kConvTranspose) {
    const int64_t hw = L.hin * L.win, ck = L.cout * L.k * L.k, n = rows * hw;
    float* t = buf3;                 // cin x (rows hw): channel-major across rows
    float* cols = buf3 + n * L.cin;  // (cout k k) x (rows hw)
    for (int64_t c = 0; c < L.cin; ++c)
      for (int64_t r = 0; r < rows; ++r) std::memcpy(t + c * n + r * hw, x + r * L.in + c * hw, sizeof(float) * hw);
    int rc;
    if (bf16 && bgemm && L.wt_bf16) {
      ToBFloat16(t, n * L.cin, half);
      rc = bgemm('N', 'N', ck, n, L.cin, 1.0f, L.wt_bf16, L.cin, half, n, 0.0f, cols, n);
    } else {
      rc = sgemm('N', 'N', ck, n, L.cin, 1.0f, L.wt, L.cin, t, n, 0.0f, cols, n);
    }
    if (rc != 0) return false;
    Col2Im(L, cols, rows, dst);
    return true;
  }
  if (bf16 && bgemm && L.wt_bf16) {
    ToBFloat16(x, rows * L.in, half);
    return bgemm('N', 'N', rows, L.out, L.in, 1.0f, half, L.in, L.wt_bf16, L.out, 0.0f, dst, L.out) == 0;
  }
  return sgemm('N', 'N', rows, L.out, L.in, 1.0f, x, L.in, L.wt, L.out, 0.0f, dst, L.out) == 0;
}

float* MlpPlan::Run(float* x, int64_t rows, float* buf1, float* buf2, float* buf3, uint16_t* half, size_t first,
                   const LayerProduct& product) const {
  float* cur = x;
  for (size_t l = first; l < layers.size(); ++l) {
    const Layer& L = layers[l];
    float* dst = (cur == buf1) ? buf2 : buf1;
    if (!(product && product(l, cur, dst)) && !Product(l, cur, rows, dst, buf3, half)) return nullptr;
    if (l + 1 < layers.size())
      for (int64_t r = 0; r < rows; ++r) ApplyActs(dst + r * L.out, L.out, L.bias, L.acts);
    cur = dst;
  }
  return cur;
}

void MlpPlan::Finish(float* row) const {
  if (layers.empty()) return;  // lead activations were applied to the input rows
  const Layer& L = layers.back();
  ApplyActs(row, L.out, L.bias, L.acts);
}

}  // namespace relgeo::internal
