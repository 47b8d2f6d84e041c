// The float32 GEMM peak benchmarks report ratios against, measured in the same run
// (docs/performance.md): machines are shared and noisy, ratios taken together hold.
#pragma once

#include <cstdint>

namespace relgeo::bench {

// GFLOP/s of LibTorch's mm (M x K times K x N), repeated for at least min_seconds.
double GemmGflops(int64_t M, int64_t K, int64_t N, double min_seconds);
// The same GEMM as at::get_num_threads() concurrent single-threaded oneDNN sgemms on
// row slices (how the encoder's native lanes run).
double GemmGflopsLanes(int64_t M, int64_t K, int64_t N, double min_seconds);
// The better of the two on the encoder's shape (2048 x 512 x 784).
double Peak();

}  // namespace relgeo::bench
