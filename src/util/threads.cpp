#include "relgeo/threads.h"

#include "util/blas_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
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

// In relgeo's executables the system BLAS (FAISS's OpenBLAS) is loaded before LibTorch
// and LibTorch's sgemm_ binds there; Debian's LibTorch links OpenBLAS itself. Where
// LibTorch's own MKL serves them, the GEMMs share OpenMP's pool and nothing fights.
bool TorchGemmsOutsideTorch() {
  static const bool outside = [] {
    void* f = dlsym(RTLD_DEFAULT, "sgemm_");
    Dl_info info;
    if (f == nullptr || dladdr(f, &info) == 0 || info.dli_fname == nullptr) return false;
    return std::strstr(info.dli_fname, "libtorch") == nullptr;
  }();
  return outside;
}

ScopedSerialTorchOps::ScopedSerialTorchOps() : ScopedSerialTorchOps(TorchGemmsOutsideTorch()) {}

ScopedSerialTorchOps::ScopedSerialTorchOps(bool serial) : saved_(at::get_num_threads()) {
  if (saved_ <= 1 || !serial) {
    saved_ = 0;
    return;
  }
  at::set_num_threads(1);  // this thread's OpenMP regions; OpenBLAS keeps its pool
}

ScopedSerialTorchOps::~ScopedSerialTorchOps() {
  if (saved_ > 1) at::set_num_threads(saved_);
}
}  // namespace internal

}  // namespace relgeo
