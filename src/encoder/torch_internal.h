// Internal: what the LibTorch-backed parts of relgeo share. Included only by the
// few .cpp files that already pay for <torch/script.h>.
#pragma once

#include <torch/script.h>

#include <functional>
#include <string>

#include "relgeo/metric_map.h"
#include "relgeo/status.h"

namespace relgeo {

struct AotiPackage;  // encoder/aoti_map.h

struct MetricMap::Impl {
  mutable torch::jit::Module module;  // forward() is not const in the jit API, but is re-entrant
  // Set for a torch.export + AOTInductor package (.pt2), which has no TorchScript
  // graph: `module` is then empty and the encoder takes the generic path (§4.10).
  std::shared_ptr<AotiPackage> package;
  torch::Device device{torch::kCPU};
  std::string device_name = "cpu";
  int64_t input_dim = 0;
  int64_t output_dim = 0;
  OutputDistance distance = OutputDistance::kEuclidean;

  // f on an (n x d) float tensor already on `device`; returns (n x m) float32.
  Result<torch::Tensor> Forward(const torch::Tensor& x) const;
};

// Runs `fn`, turning what it throws into a Status with `context` in front: a Status
// thrown as internal::StatusError (util/status_error.h) keeps its code; c10::Error and
// other std::exceptions (LibTorch refusing the map or its input) are InvalidArgument;
// std::bad_alloc is Internal. Code inside `fn` that has a Status throws it with
// internal::ThrowIfError, never as a std::runtime_error that would lose the code.
Status GuardTorch(const std::string& context, const std::function<void()>& fn);

// A read-only tensor over caller memory (no copy).
inline torch::Tensor TensorView(MatrixView m) {
  return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32);
}

// Copies a CPU/CUDA (rows x cols) float tensor into a Matrix.
Matrix ToMatrix(const torch::Tensor& t);

}  // namespace relgeo
