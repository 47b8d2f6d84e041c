// Internal: metric maps from torch.export + AOTInductor packages (.pt2), next to the
// TorchScript maps of metric_map.cpp (docs/design.md §4.10). Included only by files that
// already include <torch/script.h>.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>

#include "relgeo/status.h"

namespace relgeo {

struct AotiPackage;  // the loaded package and the batch shapes it accepts (aoti_map.cpp)

// Loads an AOTInductor package (bytes InspectMapArchive classified as kAotiPackage)
// on `device`. input_dim 0 infers the latent dimension from the package's own input
// checks. Fails with a clear Status for a package compiled for another device, and on
// a LibTorch without AOTInductor (the Debian 1.13 build).
Result<std::shared_ptr<AotiPackage>> LoadAotiPackage(const std::string& bytes, const torch::Device& device,
                                                     int64_t input_dim);
int64_t AotiInputDim(const AotiPackage& package);

// f on an (n x d) float tensor on the package's device; returns its first output.
// Batches the package cannot take as they are (fewer rows than an exported dynamic
// batch allows, or another size than a static batch) are padded and split here.
torch::Tensor RunAotiPackage(const AotiPackage& package, const torch::Tensor& x);

}  // namespace relgeo
