// Internal: thread counts set apart from ConfigureThreads for one scope.
//
// OpenBLAS's own pthread pool. Where LibTorch already parallelises small operations with OpenMP (training
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

// The opposite split, for training loops whose time is in a few large GEMMs and whose
// other operations are small (the metric heads: 64 x 500 x P products per step; the
// stitching classifiers): where LibTorch's GEMMs run in a BLAS with its own pool
// (OpenBLAS), LibTorch's own operations run on the calling thread and OpenBLAS keeps
// the threads ConfigureThreads gave it. With OpenMP's workers spinning between the
// small operations while OpenBLAS's threads run the GEMMs, a DIET head trained
// 2.2-2.6x slower on 2 cores (docs/design.md §6.1). Nothing changes where LibTorch's
// own MKL serves the GEMMs (one OpenMP pool) or with one thread.
class ScopedSerialTorchOps {
 public:
  ScopedSerialTorchOps();                      // acts where TorchGemmsOutsideTorch()
  explicit ScopedSerialTorchOps(bool serial);  // serial: whether to act (tests pass it)
  ~ScopedSerialTorchOps();
  ScopedSerialTorchOps(const ScopedSerialTorchOps&) = delete;
  ScopedSerialTorchOps& operator=(const ScopedSerialTorchOps&) = delete;

 private:
  int saved_;
};

// Whether LibTorch's GEMMs (its calls to sgemm_) bind to a BLAS outside LibTorch;
// looked up once per process.
bool TorchGemmsOutsideTorch();

}  // namespace relgeo::internal
