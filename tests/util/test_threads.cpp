// Thread settings (src/util/threads.cpp, src/util/blas_threads.h): the scope that runs
// LibTorch's small training operations on one thread while OpenBLAS keeps its pool.
#include <gtest/gtest.h>
#include <omp.h>

#include "relgeo/threads.h"
#include "util/blas_threads.h"

namespace relgeo {
namespace {

TEST(Threads, SerialTorchOpsRunsOpenMpOnOneThreadAndGivesItBack) {
  ConfigureThreads(2);
  const int blas = internal::BlasThreads();
  ASSERT_EQ(omp_get_max_threads(), 2);
  {
    internal::ScopedSerialTorchOps serial(/*serial=*/true);
    EXPECT_EQ(omp_get_max_threads(), 1);
    EXPECT_EQ(internal::BlasThreads(), blas) << "OpenBLAS keeps its threads";
  }
  EXPECT_EQ(omp_get_max_threads(), 2);
  {
    internal::ScopedSerialTorchOps untouched(/*serial=*/false);  // MKL serves the GEMMs: one pool
    EXPECT_EQ(omp_get_max_threads(), 2);
  }
  EXPECT_EQ(omp_get_max_threads(), 2);
}

// The default decides by where LibTorch's sgemm_ binds in this process.
TEST(Threads, SerialTorchOpsActsOnlyWhereLibTorchGemmsRunOutsideLibTorch) {
  ConfigureThreads(2);
  {
    internal::ScopedSerialTorchOps scope;
    EXPECT_EQ(omp_get_max_threads(), internal::TorchGemmsOutsideTorch() ? 1 : 2);
  }
  EXPECT_EQ(omp_get_max_threads(), 2);
}

}  // namespace
}  // namespace relgeo
