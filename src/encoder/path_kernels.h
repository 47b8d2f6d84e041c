// Internal to the encoder: the fused CPU loops around the metric map's batched
// evaluation (no LibTorch here). One pass over each map-output row does the
// distance transform, the chord to the previous point on the same line and the
// length/energy accumulation, while the row is still in cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace relgeo::internal {

enum class ChordKind { kEuclidean, kSphere, kFisher };

// out = p + t (q - p), n floats.
void InterpolateRow(const float* p, const float* q, float t, int64_t n, float* out);
// out = alpha p + beta q + gamma c, n floats (the LayerNorm split's interpolation).
void CombineRows(const float* p, const float* q, const float* c, float alpha, float beta, float gamma, int64_t n,
                 float* out);
// <u, v>, n floats.
float Dot(const float* u, const float* v, int64_t n);

// The per-point transform under which every output distance is a function of the
// Euclidean chord: identity, y/|y|, sqrt(softmax(y)). `out` may equal `y`.
void TransformRow(const float* y, int64_t m, ChordKind kind, float* out);

// |u - v|_2.
float Chord(const float* u, const float* v, int64_t m);

// delta from the chord of transformed points: chord, 2 asin(min(1, c/2)), 4 asin(min(1, c/2)).
double DeltaFromChord(double chord, ChordKind kind);

// One (query, anchor) line, `steps` consecutive raw map-output rows (row-major, m wide):
// starting from `prev` (already transformed), adds delta (length) or delta^2 (energy)
// for each row to *acc, and leaves the transformed last point in `last` (m floats;
// `last` may alias `prev`). `scratch` holds 2 m floats.
void AccumulateLine(const float* rows, int64_t steps, int64_t m, ChordKind kind, bool energy, const float* prev,
                    float* scratch, float* last, double* acc);

}  // namespace relgeo::internal

namespace relgeo::internal {

// Pointwise activations the native MLP executor fuses into its passes.
enum class Act { kRelu, kSigmoid, kTanh };

// A metric map's rest (after the affine first layer) as a plain chain
//   lead activations, then layers: y = x W^T + b followed by activations.
// Executed without TorchScript: GEMMs through `sgemm` (row-major, oneDNN's
// dnnl_sgemm signature), bias and activations fused into passes over rows.
struct MlpPlan {
  using Sgemm = int (*)(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
  // oneDNN's dnnl_gemm_bf16bf16f32: bfloat16 inputs, float32 accumulation and output.
  using Bgemm = int (*)(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                        int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);
  struct Layer {
    // kLinear: y = x W^T + b. kConvTranspose: torch.conv_transpose2d on rows holding
    // cin x hin x win images (NCHW, flattened), groups 1, dilation 1, square kernel:
    // one GEMM (cout k k x cin) . (cin x rows pixels) for the whole batch, then col2im.
    enum Kind { kLinear, kConvTranspose } kind = kLinear;
    int64_t cin = 0, hin = 0, win = 0, cout = 0, k = 0, stride = 1, pad = 0, hout = 0, wout = 0;
    int64_t scratch = 0;  // floats per row of the third buffer (conv: transposed input + columns)
    const float* wt = nullptr;  // linear: in x out (W^T, row-major); conv: (cout k k) x cin
    const float* bias = nullptr;  // out (conv: expanded per output element), or null
    const uint16_t* wt_bf16 = nullptr;  // the same in bfloat16 (when bf16 is on)
    int64_t in = 0, out = 0;
    std::vector<Act> acts;
  };
  std::vector<Act> lead;
  std::vector<Layer> layers;
  Sgemm sgemm = nullptr;
  Bgemm bgemm = nullptr;
  bool bf16 = false;  // GEMM inputs rounded to bfloat16 (EncoderPrecision::kBFloat16)
  int64_t in_dim = 0, out_dim = 0, max_width = 0, max_scratch = 0;

  // x (rows x in_dim, lead activations already applied) through every layer; the last
  // layer's bias and activations are NOT applied (see Finish). Returns the rows x
  // out_dim result, in x itself (no layer), buf1 or buf2 (each rows x max_width).
  // `half` (rows x max(max_width, max_scratch) uint16) holds the bfloat16 copy of each GEMM input when
  // bf16 is on. Returns nullptr when the GEMM fails.
  // `buf3` (rows x max_scratch) is the conv layers' workspace.
  // `first` skips layers already applied (x is then layer first-1's activated output).
  // `product`, when given, may compute layer l's product itself (dst = x W_l^T, true)
  // instead of the GEMM (false: the GEMM runs).
  using LayerProduct = std::function<bool(size_t l, const float* x, float* dst)>;
  float* Run(float* x, int64_t rows, float* buf1, float* buf2, float* buf3, uint16_t* half, size_t first = 0,
             const LayerProduct& product = {}) const;
  // Layer l's product alone, no bias or activations: x (rows x in) -> dst (rows x out);
  // buf3 (rows x max_scratch) and half as in Run. false when the GEMM fails.
  bool Product(size_t l, const float* x, int64_t rows, float* dst, float* buf3, uint16_t* half) const;
  // The last layer's bias and activations on one output row (or the lead activations
  // when there is no layer), in place.
  void Finish(float* row) const;
};

void ApplyActs(float* row, int64_t n, const float* bias, const std::vector<Act>& acts);
// float32 -> bfloat16, round to nearest even.
void ToBFloat16(const float* x, int64_t n, uint16_t* out);

}  // namespace relgeo::internal
