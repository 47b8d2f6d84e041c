// Internal to the encoder: the fused CPU loops around the metric map's batched
// evaluation (no LibTorch here). One pass over each map-output row does the
// distance transform, the chord to the previous point on the same line and the
// length/energy accumulation, while the row is still in cache.
#pragma once

#include <cstdint>

namespace relgeo::internal {

enum class ChordKind { kEuclidean, kSphere, kFisher };

// out = p + t (q - p), n floats.
void InterpolateRow(const float* p, const float* q, float t, int64_t n, float* out);

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
