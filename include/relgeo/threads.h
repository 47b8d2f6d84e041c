// The one place that sets thread counts for every compute backend relgeo uses:
// LibTorch intra-op threads, OpenMP (FAISS) and OpenBLAS. LibTorch's first call
// silently drops OpenMP to 1 thread on some machines, and OpenBLAS pthreads plus
// OpenMP oversubscribe; calling this once at start-up (and after LibTorch has been
// touched) avoids both.
#pragma once

namespace relgeo {

// n <= 0 means "all hardware threads". Returns the count applied.
int ConfigureThreads(int n = 0);
int ConfiguredThreads();

}  // namespace relgeo
