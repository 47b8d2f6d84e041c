// Internal to the encoder: splitting a TorchScript metric map f into an affine
// first layer and the rest, f(x) = g(x W^T + b).
//
// Along a straight line gamma(t) = (1-t) z + t a, the first layer's output is the
// straight line (1-t)(W z + b) + t (W a + b) between the two end points' outputs,
// so the encoder computes W z + b once per query and W a + b once per anchor and
// only runs g on the interpolated pre-activations: the first layer's cost per path
// point drops from 2 d h FLOPs to 2 h (an axpy), and g's input is ready-made.
//
// A LayerNorm over the features before that layer (how relgeo's heads and most
// transformer heads start) is split off too (docs/design.md §4.3): LN(x) = gamma (x -
// mean x) / sigma(x) + beta, so with gamma and beta folded into W and b the layer's
// output is c(x) W'^T / sigma(x) + b' for the centred input c(x), and along the line
// c is linear in t while sigma(t)^2 = |c(t)|^2 / d + eps is quadratic. The
// interpolated pre-activation is then alpha pre(z) + beta pre(a) + (1 - alpha - beta)
// b', alpha = (1-t) sigma(z) / sigma(t), beta = t sigma(a) / sigma(t): one scalar
// pair per path point from the end points' sigmas and <c(z), c(a)>.
//
// Detection works on the module's own forward graph (after inlining method calls),
// so it needs no convention from the map's author. It accepts a forward whose input
// x has exactly one use, and that use is one of
//   aten::linear(x, W, b?)                          (torch.nn.Linear, F.linear)
//   aten::addmm(b, x, R) (beta = alpha = 1)         (torch.addmm(b, x, W.t()))
//   aten::matmul/mm(x, R)                           optionally followed by
//   aten::add(_, b, 1) / aten::add(b, _, 1)         (hand-written x @ W.t() + b)
// optionally preceded by aten::layer_norm(x, [d], gamma?, beta?, eps) whose output
// has that one use; where R = aten::t(W), W.transpose(0, 1) or a W^T-shaped M, and W, b are module
// attributes (parameters or buffers) or graph constants. The rest g
// is the same graph with the first layer's output replaced by a new input. The
// encoder then checks numerically that g(x W^T + b) == f(x) on probe rows before
// using it, so an unexpected graph shape falls back to the generic path.
#pragma once

#include <torch/script.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "encoder/path_kernels.h"

namespace relgeo::internal {

struct AffineSplit {
  torch::Tensor weight_t;  // d x h: W^T, contiguous, so that pre = addmm(b, x, weight_t)
  torch::Tensor bias;      // h, or undefined (no bias)
  torch::jit::Module module;  // the map's module (self for the rest graph)
  std::shared_ptr<torch::jit::GraphFunction> rest;  // (self, pre) -> f's output
  std::string description;    // e.g. "aten::linear 128->512"
  // A leading LayerNorm (gamma and beta folded into weight_t and bias), or none.
  bool normalized = false;
  double eps = 0;

  int64_t in_dim() const { return weight_t.size(0); }
  int64_t hidden_dim() const { return weight_t.size(1); }
  // x W^T + b for an (n x d) float tensor (with a LayerNorm: LN(x) W^T + b).
  torch::Tensor Pre(const torch::Tensor& x) const;
  // LayerNorm only: the centred rows c(x) / sqrt(d) (n x d), whose inner products give
  // sigma along a line, and sigma(x) (n).
  torch::Tensor Centred(const torch::Tensor& x) const;
  torch::Tensor Sigma(const torch::Tensor& centred) const;
  // g(pre): the map's output for pre-activations (n x h); raw (not flattened).
  torch::jit::IValue Rest(const torch::Tensor& pre) const;
};

// nullopt when the forward graph does not start with a recognised affine layer.
std::optional<AffineSplit> DetectAffineSplit(const torch::jit::Module& module);

// The rest of the map as a native plan (MlpPlan), when its graph, after constant
// propagation, is a chain (each node takes the previous node's output) of
//   aten::linear(x, W, b?)
//   aten::addmm(b, x, R) (beta = alpha = 1), aten::matmul/mm(x, R) [+ aten::add(_, b, 1)]
//       with R = W.t(), W.transpose(0, 1) or a held matrix
//   aten::conv_transpose2d(x, W, b?, stride, padding, output_padding, groups 1,
//       dilation 1) on rows that hold images: square kernel, each of stride, padding
//       and output_padding the same in both dimensions
//   aten::view / aten::reshape to [-1 or x.size(0), ...] with 2 or 4 dimensions,
//   aten::unflatten(x, 1, [c, h, w]), aten::flatten(x, 1, -1): a 4-dimensional shape
//       or unflatten makes the rows images (C x H x W), a 2-dimensional shape or
//       flatten makes them flat again (the linear layers above need flat rows)
//   aten::relu / sigmoid / tanh and their in-place forms (before the first layer:
//       the plan's lead activations)
// ending in the graph's output, with W and b module attributes or graph constants
// (the prim::GetAttr, constant, list, aten::t and x.size(0) nodes that feed the chain
// are passed over). GEMMs go through oneDNN's dnnl_sgemm, linked explicitly
// (encoder/gemm.h); its bfloat16 GEMM is used too when present (kBFloat16).
// The plan runs without the TorchScript interpreter and with OpenMP as the only
// thread pool (the GEMM inside each of relgeo's parallel lanes is single-threaded).
struct NativeRest {
  MlpPlan plan;
  std::vector<torch::Tensor> keep;  // owns the weights the plan points to
  std::string description;
};
std::optional<NativeRest> DetectNativeRest(const AffineSplit& split);

}  // namespace relgeo::internal
