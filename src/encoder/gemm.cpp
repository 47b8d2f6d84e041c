// The native path's GEMMs (gemm.h).
#include "encoder/gemm.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

namespace relgeo::internal {

int OneDnnSgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  return dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == dnnl_success ? 0 : 1;
}

MlpPlan::Bgemm OneDnnBf16Gemm() {
  // The libdnnl this library is linked against: found through dnnl_sgemm's address,
  // never through whatever else the process has loaded.
  static const MlpPlan::Bgemm fn = [] {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void*>(&dnnl_sgemm), &info) || !info.dli_fname) return MlpPlan::Bgemm{nullptr};
    void* lib = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!lib) return MlpPlan::Bgemm{nullptr};
    return reinterpret_cast<MlpPlan::Bgemm>(dlsym(lib, "dnnl_gemm_bf16bf16f32"));
  }();
  return fn;
}

}  // namespace relgeo::internal
