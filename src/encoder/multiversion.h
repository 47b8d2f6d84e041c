// Internal: hot loops compiled for AVX-512, AVX2 and the baseline, chosen at load
// time (GCC function multi-versioning), so the portable binary still uses wide vectors.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define RELGEO_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RELGEO_MULTIVERSION
#endif

namespace relgeo::internal {

// Whether this CPU runs the hand-written AVX-512 kernels (target("avx512f") code).
inline bool CpuHasAvx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
#else
  return false;
#endif
}

}  // namespace relgeo::internal
