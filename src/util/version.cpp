// BuildInfo (include/relgeo/version.h). The FAISS and RocksDB versions come from
// the parts that link them, so that this file needs neither's headers.
#include "relgeo/version.h"

#include <ATen/Context.h>
#include <torch/version.h>

#include <Eigen/Core>

namespace relgeo {
namespace internal {
std::string FaissVersion();    // indexes/faiss_index.cpp
std::string RocksDbVersion();  // store/store.cpp
}  // namespace internal

#ifndef RELGEO_VERSION
#define RELGEO_VERSION "unknown"
#endif

BuildInfo GetBuildInfo() {
  BuildInfo b;
  b.relgeo = RELGEO_VERSION;
  b.libtorch = TORCH_VERSION;
  b.faiss = internal::FaissVersion();
  b.rocksdb = internal::RocksDbVersion();
  b.eigen = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
            std::to_string(EIGEN_MINOR_VERSION);
  if (__builtin_cpu_supports("avx2")) b.cpu_features.push_back("avx2");
  if (__builtin_cpu_supports("fma")) b.cpu_features.push_back("fma");
  if (__builtin_cpu_supports("avx512f")) b.cpu_features.push_back("avx512f");
  b.map_formats.push_back("torchscript");
#if __has_include(<torch/csrc/inductor/aoti_package/model_package_loader.h>)  // as encoder/aoti_map.cpp
  b.map_formats.push_back("pt2");
#endif
#ifdef RELGEO_TORCH_CUDA
  b.cuda = true;  // set by CMake when the LibTorch found has its CUDA library
#endif
  b.cuda_devices = static_cast<int>(at::getNumGPUs());
  return b;
}

}  // namespace relgeo
