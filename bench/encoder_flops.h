// What bench_encoder's FLOP accounting measures on the maps' own inputs
// (docs/performance.md#flop-accounting): how much of a layer the encoder's relu
// structure lets it skip.
#pragma once

#include <string>

#include "relgeo/matrix.h"

namespace torch::jit {
struct Module;
}

namespace relgeo::bench {

// Mean fraction of first-hidden-layer units whose pre-activation W1 x + b1 has opposite
// signs at a query and an anchor, over all pairs (`w`, `b`: the module's parameters):
// the units the relu sign split multiplies.
double SignChangeFraction(const torch::jit::Module& mod, const std::string& w, const std::string& b, const Matrix& Z,
                          const Matrix& A);

// For a map relu(x W1^T + b1) -> relu(. W2^T + b2) -> ...: the fraction of the second
// hidden layer's (unit, path point) products the active-interval product does, over
// every line from the first `queries` rows of Z to every anchor at N steps (blocks of up
// to 8 interior points, each unit from its first to its last nonzero point).
double IntervalCoverage(const torch::jit::Module& mod, const std::string& w1, const std::string& b1,
                        const std::string& w2, const std::string& b2, const Matrix& Z, const Matrix& A, int steps,
                        int64_t queries);

}  // namespace relgeo::bench
