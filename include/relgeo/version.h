// What this build of relgeo is made of: its own version, the versions of the
// libraries it was built against, the CPU features its fast paths use on this
// machine, and whether it can run on CUDA devices (`relgeo version [--json]`).
#pragma once

#include <string>
#include <vector>

namespace relgeo {

struct BuildInfo {
  std::string relgeo;    // "0.1.0"
  std::string libtorch;  // the LibTorch relgeo is linked against, e.g. "2.15.0" or "1.13.0"
  std::string faiss, rocksdb, eigen;
  // CPU features the encoder's fast paths use, as this machine reports them
  // ("avx2", "avx512f", "fma"); absent ones are not listed.
  std::vector<std::string> cpu_features;
  // Map formats this build loads: "torchscript" always; "pt2" (torch.export +
  // AOTInductor packages) when its LibTorch has AOTInductor (PyTorch 2.x builds).
  std::vector<std::string> map_formats;
  bool cuda = false;        // this build's LibTorch was built with CUDA
  int cuda_devices = 0;     // CUDA devices visible now (0 without a GPU)
};

BuildInfo GetBuildInfo();

}  // namespace relgeo
