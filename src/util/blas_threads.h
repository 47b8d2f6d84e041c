// Internal: OpenBLAS's own pthread pool, set apart from ConfigureThreads for one
// scope. Where LibTorch already parallelises small operations with OpenMP (training
// the autoencoders: convolutions lowered to many small GEMMs), OpenBLAS's threads
// and OpenMP's spinning workers fight over the cores; one BLAS thread there trains
// the conv autoencoder 3x faster (5 -> 15 batches/s on 2 cores, docs/design.md §6.1).
#pragma once

namespace relgeo::internal {

// The OpenBLAS thread count now (0 when OpenBLAS is not loaded), and a setter that
// does nothing when it is not.
int BlasThreads();
void SetBlasThreads(int n);

class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int n) : saved_(BlasThreads()) { SetBlasThreads(n); }
  ~ScopedBlasThreads() {
    if (saved_ > 0) SetBlasThreads(saved_);
  }
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  int saved_;
};

}  // namespace relgeo::internal
