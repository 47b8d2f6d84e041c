// Internal: hot loops compiled for AVX-512, AVX2 and the baseline, chosen at load
// time (GCC function multi-versioning), so the portable binary still uses wide vectors.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define RELGEO_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RELGEO_MULTIVERSION
#endif

// The hand-written AVX-512 kernels (target("avx512f") functions) compile where GCC's
// x86 intrinsics are; CpuHasAvx512() says whether this CPU runs them.
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RELGEO_HAVE_AVX512_KERNEL 1
#endif

namespace relgeo::internal {

inline bool CpuHasAvx512() {
#ifdef RELGEO_HAVE_AVX512_KERNEL
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
#else
  return false;
#endif
}

}  // namespace relgeo::internal
