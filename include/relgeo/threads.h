// The one place that sets thread counts for every compute backend relgeo uses:
// LibTorch intra-op threads, OpenMP (FAISS) and OpenBLAS. LibTorch's first call
// silently drops OpenMP to 1 thread on some machines, and OpenBLAS pthreads plus
// OpenMP oversubscribe; calling this once at start-up (and after LibTorch has been
// touched) avoids both.
#pragma once

namespace relgeo {

// The most threads ConfigureThreads applies (a larger n is lowered to it: OpenMP
// would try to start every one of them).
inline constexpr int kMaxThreads = 1024;

// n <= 0 means "all hardware threads"; more than kMaxThreads means kMaxThreads.
// Returns the count applied.
int ConfigureThreads(int n = 0);
int ConfiguredThreads();

}  // namespace relgeo
