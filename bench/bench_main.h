// The start every C++ benchmark binary shares: the thread count from
// RELGEO_BENCH_THREADS (unset or 0: all cores; 1 gives steadier figures on a loaded
// machine), set through relgeo::ConfigureThreads, the one place that sets LibTorch's,
// OpenMP's and BLAS's threads; then Google Benchmark's flags and run.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>

#include "relgeo/threads.h"

namespace relgeo::bench {

inline int ConfigureBenchThreads() {
  const char* t = std::getenv("RELGEO_BENCH_THREADS");
  return relgeo::ConfigureThreads(t ? std::atoi(t) : 0);
}

// Google Benchmark's flags, then every selected benchmark; false when a flag is not
// Google Benchmark's (already reported).
inline bool RunBenchmarks(int* argc, char** argv) {
  benchmark::Initialize(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(*argc, argv)) return false;
  benchmark::RunSpecifiedBenchmarks();
  return true;
}

}  // namespace relgeo::bench
