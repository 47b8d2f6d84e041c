#include "relgeo/threads.h"

#include "util/blas_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace relgeo {
namespace {
std::atomic<int> g_threads{0};
}

int ConfigureThreads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = std::min(n, kMaxThreads);
  // Touch LibTorch first: its lazy initialisation resets OpenMP's thread count.
  (void)at::get_num_threads();
  at::set_num_threads(n);
  omp_set_num_threads(n);
  internal::SetBlasThreads(n);
  g_threads = n;
  return n;
}

int ConfiguredThreads() { return g_threads.load(); }

namespace internal {
// OpenBLAS (FAISS's BLAS) runs its own pthread pool; reach it when the library is
// loaded, without making relgeo link against it.
int BlasThreads() {
  using GetFn = int (*)();
  auto fn = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return fn ? fn() : 0;
}
void SetBlasThreads(int n) {
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
}
}  // namespace internal

}  // namespace relgeo
