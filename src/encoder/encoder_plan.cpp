// The encoder's plan (docs/design.md §4.1): which fast paths apply to the map, the
// batch sizes, the anchors' end points; and every evaluation of the map that needs
// LibTorch. The only file of the encoder's pipeline that includes LibTorch.
#include "encoder/encoder_plan.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "encoder/affine_split.h"
#include "encoder/gemm.h"
#include "encoder/torch_internal.h"
#include "util/status_error.h"

namespace relgeo::internal {

struct EncoderPlan::Torch {
  std::shared_ptr<const MetricMap> map;
  std::optional<AffineSplit> split;  // set when the affine fast path is in use
  std::optional<NativeRest> native;  // the rest as a native plan, when it is one

  const MetricMap::Impl& m() const { return map->impl(); }
};

bool EncoderPlan::affine() const { return torch->split.has_value(); }
bool EncoderPlan::normalized() const { return torch->split && torch->split->normalized; }
const MlpPlan* EncoderPlan::native() const { return torch->native ? &torch->native->plan : nullptr; }

namespace {

ChordKind KindOf(OutputDistance d) {
  switch (d) {
    case OutputDistance::kEuclidean: return ChordKind::kEuclidean;
    case OutputDistance::kSphere: return ChordKind::kSphere;
    case OutputDistance::kFisher: return ChordKind::kFisher;
  }
  return ChordKind::kEuclidean;
}

// The rows of a CPU float32 contiguous tensor, the tensor kept alive by the pointer.
TensorRows Hold(const torch::Tensor& t) {
  return TensorRows(std::make_shared<torch::Tensor>(t), t.data_ptr<float>());
}

// ---- evaluations of the map ------------------------------------------------------------

// pre(x) for an (n x d) tensor on the map's device; returns a CPU contiguous tensor.
torch::Tensor Pre(const EncoderPlan& p, const torch::Tensor& x) {
  torch::Tensor pre = p.torch->split ? p.torch->split->Pre(x) : x;
  return pre.to(torch::kCPU).contiguous();
}

// The native plan on CPU rows (n x hdim): n x m (used for f(z), f(a) and the probe).
Result<torch::Tensor> NativeRestRows(const EncoderPlan& p, const torch::Tensor& h) {
  const MlpPlan& P = *p.native();
  const int64_t n = h.size(0), hdim = p.hdim, mdim = p.mdim;
  torch::Tensor x = h.to(torch::kCPU, torch::kFloat32).contiguous().clone();
  std::vector<float> b1(static_cast<size_t>(n * P.max_width)), b2(b1.size());
  std::vector<float> b3(static_cast<size_t>(n * P.max_scratch));
  std::vector<uint16_t> half(static_cast<size_t>(n * std::max(P.max_width, P.max_scratch)));
  float* px = x.data_ptr<float>();
  for (int64_t r = 0; r < n; ++r) ApplyActs(px + r * hdim, hdim, nullptr, P.lead);
  float* y = P.Run(px, n, b1.data(), b2.data(), b3.data(), half.data());
  if (!y) return Status::Internal("dnnl_sgemm failed");
  torch::Tensor out = torch::empty({n, mdim}, torch::kFloat32);
  std::memcpy(out.data_ptr<float>(), y, sizeof(float) * n * mdim);
  for (int64_t r = 0; r < n; ++r) P.Finish(out.data_ptr<float>() + r * mdim);
  return out;
}

// The map's output for rows of the interpolated space (CPU, rows x hdim): rows x m,
// CPU float32 contiguous; the same checks as MetricMap::Impl::Forward.
Result<torch::Tensor> Rest(const EncoderPlan& p, const torch::Tensor& h) {
  if (p.native()) return NativeRestRows(p, h);
  const EncoderPlan::Torch& t = *p.torch;
  torch::Tensor in = h.device() == t.m().device ? h : h.to(t.m().device);
  torch::Tensor out;
  if (!t.split) {
    RELGEO_ASSIGN_OR_RETURN(out, t.m().Forward(in));
  } else {
    Status st = GuardTorch("metric map forward failed", [&] {
      torch::jit::IValue v = t.split->Rest(in);
      if (!v.isTensor())
        throw StatusError(Status::InvalidArgument("forward returned " + v.tagKind() + ", expected a tensor"));
      out = v.toTensor();
    });
    RELGEO_RETURN_IF_ERROR(st);
    if (out.dim() < 1 || out.size(0) != in.size(0) || !out.is_floating_point() || out.numel() != in.size(0) * p.mdim)
      return Status::InvalidArgument("metric map returned an output of unexpected shape for " +
                                     std::to_string(in.size(0)) + " inputs");
    out = out.reshape({in.size(0), p.mdim});
  }
  if (out.scalar_type() != torch::kFloat32) out = out.to(torch::kFloat32);
  return out.to(torch::kCPU).contiguous();
}

// L0(relu(pre)) for CPU rows (n x hdim), without L0's bias: n x o0, where L0 is the
// native plan's first layer (the sign split's end-point products).
Result<torch::Tensor> ReluFirstLayer(const EncoderPlan& p, const torch::Tensor& pre) {
  const MlpPlan& P = *p.native();
  const int64_t n = pre.size(0), o0 = P.layers[0].out, chunk = 64;
  torch::Tensor x = pre.clamp_min(0.0).contiguous();
  torch::Tensor out = torch::empty({n, o0}, torch::kFloat32);
  std::vector<float> b3(static_cast<size_t>(chunk * P.max_scratch));
  for (int64_t r = 0; r < n; r += chunk)
    if (!P.Product(0, x.data_ptr<float>() + r * p.hdim, std::min(chunk, n - r), out.data_ptr<float>() + r * o0,
                   b3.data(), nullptr))
      return Status::Internal("dnnl_sgemm failed");
  return out;
}

// Transformed map outputs of rows of the interpolated space, in batches of `rows`.
Result<torch::Tensor> TransformedOutputs(const EncoderPlan& p, const torch::Tensor& h) {
  const int64_t n = h.size(0), mdim = p.mdim;
  torch::Tensor res = torch::empty({n, mdim}, torch::kFloat32);
  for (int64_t b = 0; b < n; b += p.rows) {
    const int64_t r = std::min(p.rows, n - b);
    RELGEO_ASSIGN_OR_RETURN(torch::Tensor y, Rest(p, h.narrow(0, b, r)));
    float* dst = res.data_ptr<float>() + b * mdim;
    const float* src = y.data_ptr<float>();
    for (int64_t i = 0; i < r; ++i) TransformRow(src + i * mdim, mdim, p.kind, dst + i * mdim);
  }
  return res;
}

// Behind a LayerNorm: c(x) / sqrt(d) and sigma(x) of end points, as CPU rows.
void NormalizedEnds(const AffineSplit& s, const torch::Tensor& x, TensorRows* cen, TensorRows* sigma) {
  const torch::Tensor c = s.Centred(x);
  *cen = Hold(c.to(torch::kCPU).contiguous());
  *sigma = Hold(s.Sigma(c).to(torch::kCPU).contiguous());
}

// ---- planning --------------------------------------------------------------------------

// Behind a LayerNorm: the weighted interpolation of the end points' pre-activations
// (batch_producers.cpp, affine_split.h) against pre of the point on the line, at t = 0.37.
bool NormalizedLineAgrees(const AffineSplit& s, const torch::Tensor& a) {
  const torch::Tensor z = a.flip(0), t = torch::full({1}, 0.37, a.options());
  const torch::Tensor cz = s.Centred(z), ca = s.Centred(a);
  const torch::Tensor vz = cz.square().sum(1), va = ca.square().sum(1), cross = (cz * ca).sum(1);
  const torch::Tensor sigma_t = ((1 - t).square() * vz + 2 * (1 - t) * t * cross + t.square() * va + s.eps).sqrt();
  const torch::Tensor alpha = ((1 - t) * s.Sigma(cz) / sigma_t).unsqueeze(1), beta = (t * s.Sigma(ca) / sigma_t).unsqueeze(1);
  const torch::Tensor got = alpha * s.Pre(z) + beta * s.Pre(a) + (1 - alpha - beta) * s.bias;
  const torch::Tensor want = s.Pre((1 - t) * z + t * a);
  const double scale = std::max(1.0, want.abs().max().item<double>());
  return (got - want).abs().max().item<double>() <= 1e-4 * scale;
}

// Checks that rest(pre(x)) reproduces f(x) on probe rows: the anchors and points
// between them. Any disagreement or error disables the fast path.
bool SplitAgrees(const EncoderPlan& p, const torch::Tensor& anchors_dev) {
  const int64_t K = anchors_dev.size(0);
  torch::Tensor a = anchors_dev.narrow(0, 0, std::min<int64_t>(K, 8));
  torch::Tensor probe = torch::cat({a, 0.5 * (a + a.flip(0)), 0.3 * a - 0.7 * a.roll(1, 0)});
  auto ref = p.torch->m().Forward(probe);
  if (!ref.ok()) return false;
  torch::Tensor want = ref->to(torch::kCPU);
  auto got = Rest(p, p.torch->split->Pre(probe));
  if (!got.ok() || got->sizes() != want.sizes()) return false;
  const double scale = std::max(1.0, want.abs().max().item<double>());
  if ((*got - want).abs().max().item<double>() > 1e-4 * scale) return false;
  return !p.torch->split->normalized || NormalizedLineAgrees(*p.torch->split, a);
}

// The affine split (§4.3) and the native rest (§4.4), each kept only when it agrees
// with the plain forward on probe rows; then bfloat16, which is never probed.
void DetectFastPaths(EncoderPlan& p, const torch::Tensor& a, const EncoderOptions& options) {
  EncoderPlan::Torch& t = *p.torch;
  // A .pt2 package has no TorchScript graph to read layers from (§4.10).
  if (!t.m().package) t.split = DetectAffineSplit(t.m().module);
  if (t.split && (t.split->in_dim() != a.size(1) || t.split->weight_t.device() != a.device())) t.split.reset();
  if (!t.split) return;
  p.hdim = t.split->hidden_dim();
  // The native plan runs on the CPU; maps on another device keep TorchScript.
  if (options.allow_native_mlp && t.m().device.is_cpu() && OneDnnAvailable()) t.native = DetectNativeRest(*t.split);
  if (t.native && t.native->plan.out_dim != p.mdim) t.native.reset();
  // The rest is probed once, as it will run: the native plan when there is one; the
  // TorchScript rest when there is none or the native plan disagrees.
  if (!(t.native && SplitAgrees(p, a))) {
    t.native.reset();
    if (!SplitAgrees(p, a)) t.split.reset();
  }
  // Reduced precision only after the structure was checked in float32.
  if (t.native && options.precision == EncoderPrecision::kBFloat16 && t.native->plan.bgemm) t.native->plan.bf16 = true;
}

// Whether the native plan is relu -> linear or transposed convolution -> ..., the
// sign split's precondition (float32 only).
bool SignSplitApplies(const EncoderPlan& p) {
  const MlpPlan* P = p.native();
  if (!P || P->bf16 || p.normalized()) return false;  // the tents need pre linear in t
  return P->lead.size() == 1 && P->lead[0] == Act::kRelu && !P->layers.empty() && P->layers[0].in == p.hdim;
}

// The sign split's kernel for the native plan's first layer (§4.5).
void ChooseSignSplit(EncoderPlan& p) {
  const MlpPlan::Layer& L0 = p.native()->layers[0];
  if (L0.kind == MlpPlan::Layer::kLinear) {
    p.sign_split = TentGemmFor(GemmIsa::kBest);
  } else {  // a transposed convolution
    p.conv_split = ScatterConvT::Build(L0.wt, L0.cin, L0.hin, L0.win, L0.cout, L0.k, L0.stride, L0.pad, L0.hout, L0.wout);
    p.conv_gather = GatheredConvTFor(*p.conv_split);
  }
}

// The active-interval product for every linear layer whose input went through a relu
// (§4.5), on CPUs with its kernel and in float32.
void ChooseIntervalLayers(EncoderPlan& p) {
  const MlpPlan* P = p.native();
  if (!P || P->bf16) return;
  p.interval_gemm = IntervalGemmFor(GemmIsa::kBest);
  if (!p.interval_gemm) return;
  p.interval_layer.assign(P->layers.size(), false);
  bool any = false;
  for (size_t l = 1; l < P->layers.size(); ++l) {
    const MlpPlan::Layer& L = P->layers[l];
    const std::vector<Act>& before = P->layers[l - 1].acts;
    // Skipping a zero input is exact only for finite weights (0 x Inf is NaN).
    p.interval_layer[l] = L.kind == MlpPlan::Layer::kLinear && !before.empty() && before.back() == Act::kRelu &&
                          std::all_of(L.wt, L.wt + L.in * L.out, [](float w) { return std::isfinite(w); });
    any = any || p.interval_layer[l];
  }
  if (!any) {
    p.interval_gemm = nullptr;
    p.interval_layer.clear();
  }
}

// Chooses the batch sizes from the memory budget (docs/design.md §4.8):
//   per path point in a batch: its interpolated row (hdim), the map's output (m),
//   the map's own activations estimated as hdim + 4m, and the line's carried last
//   point (m): 4 (2 hdim + 6 m) bytes (for a native MLP plan, at least its real
//   buffers, 4 (hdim + 2 widest + m)); at most 3/4 of the budget, shared by the lanes
//   (concurrent batches) of the native path.
//   per query in a block: pre(z) and f(z): 4 (hdim + m) bytes; at most 1/4.
void ChooseSizes(EncoderPlan& p, const EncoderOptions& options) {
  const MlpPlan* native = p.native();
  const int64_t budget = options.memory_budget_bytes, hdim = p.hdim, mdim = p.mdim;
  int64_t row_bytes = 4 * (2 * hdim + 6 * mdim);
  // The native plan's own buffers per row: its input, two layer outputs, the conv
  // workspace, the carried point.
  // The sign split adds the per-line unit indices (at most hdim int32 per line), the
  // active-interval product a block's sorted units and group starts (at most one block
  // per row).
  const int64_t native_row_bytes =
      native ? 4 * (hdim + 2 * native->max_width + native->max_scratch + mdim + (p.split_on() ? hdim : 0) +
                    (p.interval_gemm ? native->max_width + kIntervalIdxPad + kIntervalStarts : 0))
             : 0;
  row_bytes = std::max(row_bytes, native_row_bytes);
  p.lanes = native ? std::max(1, at::get_num_threads()) : 1;
  const int64_t auto_rows = native ? std::clamp<int64_t>(kNativeLaneBytes / native_row_bytes, 16, kDefaultRowsNativeMax)
                                   : kDefaultRowsTorchScript;
  const int64_t want = options.rows_per_batch > 0 ? options.rows_per_batch : auto_rows;
  p.rows = std::max<int64_t>(1, std::min(want, budget / 4 * 3 / (row_bytes * p.lanes)));
  const int64_t lin = p.split_on() ? native->layers[0].out : 0;  // the queries' W0 relu(pre(z))
  const int64_t cen = p.normalized() ? p.torch->split->in_dim() + 1 : 0;  // the queries' c(z), sigma(z)
  p.query_block = std::max<int64_t>(1, std::min<int64_t>(256, budget / 4 / (4 * (hdim + mdim + lin + cen))));
}

// pre(a), f(a) and, with the sign split, W0 relu(pre(a)): once per encoder.
void ComputeAnchorEnds(EncoderPlan& p, const torch::Tensor& a) {
  const torch::Tensor pre = Pre(p, a);
  p.anchor_pre = Hold(pre);
  if (p.split_on()) {
    auto lin = ReluFirstLayer(p, pre);
    ThrowIfError(lin.status());
    p.anchor_lin = Hold(*lin);
  }
  auto fa = TransformedOutputs(p, pre);
  ThrowIfError(fa.status());
  p.anchor_out = Hold(*fa);
  if (p.normalized()) {
    const AffineSplit& s = *p.torch->split;
    NormalizedEnds(s, a, &p.anchor_cen, &p.anchor_sigma);
    p.norm_bias = Hold(s.bias.to(torch::kCPU).contiguous());
    p.ndim = s.in_dim();
    p.norm_eps = static_cast<float>(s.eps);
  }
}

}  // namespace

Result<std::unique_ptr<const EncoderPlan>> PlanEncoder(std::shared_ptr<const MetricMap> map, MatrixView anchors,
                                                       const EncoderOptions& options) {
  auto p = std::make_unique<EncoderPlan>();
  p->torch = std::make_shared<EncoderPlan::Torch>();
  p->torch->map = std::move(map);
  p->num_anchors = anchors.rows();
  p->mdim = p->torch->map->output_dim();
  p->steps = options.steps;
  p->energy = options.mode == PathMode::kEnergy;
  p->kind = KindOf(p->torch->m().distance);
  Status st = InTorchScope("encoding the anchors", [&] {
    torch::Tensor a = TensorView(anchors).to(p->torch->m().device).clone();
    if (options.allow_affine_fast_path) DetectFastPaths(*p, a, options);
    p->hdim = p->affine() ? p->torch->split->hidden_dim() : a.size(1);
    if (options.allow_relu_sign_split && SignSplitApplies(*p)) ChooseSignSplit(*p);
    if (options.allow_relu_sign_split) ChooseIntervalLayers(*p);
    ChooseSizes(*p, options);
    // Too few steps per block for the split or the intervals to pay (kSignSplitMinSteps):
    // the dense product.
    if ((p->split_on() || p->interval_gemm) && std::min<int64_t>(options.steps - 1, p->rows) < kSignSplitMinSteps) {
      p->sign_split = nullptr;
      p->conv_split.reset();
      p->interval_gemm = nullptr;
      p->interval_layer.clear();
      ChooseSizes(*p, options);
    }
    ComputeAnchorEnds(*p, a);
  });
  RELGEO_RETURN_IF_ERROR(st);
  return std::unique_ptr<const EncoderPlan>(std::move(p));
}

std::string DescribePlan(const EncoderPlan& p) {
  const EncoderPlan::Torch& t = *p.torch;
  if (!t.split) return "torchscript forward";
  std::string d = "affine " + t.split->description;
  if (!t.native) return d + " + torchscript rest";
  return d + " + native:" + t.native->description + " (" + std::to_string(p.lanes) + " lanes" +
         (t.native->plan.bf16 ? ", bf16 GEMM" : "") +
         (p.sign_split ? std::string(", relu sign split ") + TentGemmName(p.sign_split) : "") +
         (p.conv_split ? (p.conv_gather ? ", relu sign split conv avx512" : ", relu sign split conv portable") : "") +
         (p.interval_gemm ? std::string(", active intervals ") + IntervalGemmName(p.interval_gemm) : "") + ")";
}

QueryEnds EvaluateQueryEnds(const EncoderPlan& p, MatrixView queries) {
  QueryEnds e;
  const torch::Tensor z = TensorView(queries).to(p.torch->m().device);
  const torch::Tensor pre = Pre(p, z);
  e.pre = Hold(pre);
  auto fz = TransformedOutputs(p, pre);
  ThrowIfError(fz.status());
  e.out = Hold(*fz);
  if (p.split_on()) {
    auto lz = ReluFirstLayer(p, pre);
    ThrowIfError(lz.status());
    e.lin = Hold(*lz);
  }
  if (p.normalized()) NormalizedEnds(*p.torch->split, z, &e.cen, &e.sigma);
  return e;
}

Result<TensorRows> EvaluateRest(const EncoderPlan& p, float* rows, int64_t n) {
  RELGEO_ASSIGN_OR_RETURN(torch::Tensor y, Rest(p, torch::from_blob(rows, {n, p.hdim}, torch::kFloat32)));
  return Hold(y);
}

Status InTorchScope(const std::string& context, const std::function<void()>& fn) {
  return GuardTorch(context, [&] {
    c10::InferenceMode guard;
    fn();
  });
}

}  // namespace relgeo::internal
