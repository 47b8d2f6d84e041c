// The native path's GEMMs (gemm.h): oneDNN's public dnnl_sgemm and
// dnnl_gemm_bf16bf16f32 from Debian's libdnnl (docs/design.md §4.4).
#include "encoder/gemm.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

namespace relgeo::internal {
namespace {

using Sgemm = dnnl_status_t (*)(char, char, dnnl_dim_t, dnnl_dim_t, dnnl_dim_t, float, const float*, dnnl_dim_t,
                                const float*, dnnl_dim_t, float, float*, dnnl_dim_t);

struct OneDnn {
  Sgemm sgemm = nullptr;
  MlpPlan::Bgemm bgemm = nullptr;
};

const OneDnn& Lib() {
  static const OneDnn lib = [] {
    OneDnn l;
#ifdef RELGEO_DNNL_PATH
    // Built against the PyTorch wheel: its LibTorch carries a private oneDNN whose C++
    // symbols (the call_once thunks of the GEMM kernels' initialisers, among others)
    // have the same names as libdnnl's. Linked normally, libdnnl would bind some of
    // them to LibTorch's copy and dnnl_sgemm would fail; loaded here, privately and
    // with RTLD_DEEPBIND, it binds to itself, and LibTorch never sees it.
    void* h = dlopen(RELGEO_DNNL_PATH, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) return l;
    l.sgemm = reinterpret_cast<Sgemm>(dlsym(h, "dnnl_sgemm"));
#else
    // Linked against libdnnl: its dnnl_sgemm, and the bf16 GEMM from the same library
    // (found through dnnl_sgemm's address, never among whatever else is loaded).
    l.sgemm = &dnnl_sgemm;
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void*>(&dnnl_sgemm), &info) || !info.dli_fname) return l;
    void* h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!h) return l;
#endif
    l.bgemm = reinterpret_cast<MlpPlan::Bgemm>(dlsym(h, "dnnl_gemm_bf16bf16f32"));
    return l;
  }();
  return lib;
}

}  // namespace

bool OneDnnAvailable() { return Lib().sgemm != nullptr; }

int OneDnnSgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const Sgemm f = Lib().sgemm;
  if (!f) return 1;
  return f(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == dnnl_success ? 0 : 1;
}

MlpPlan::Bgemm OneDnnBf16Gemm() { return Lib().bgemm; }

}  // namespace relgeo::internal
