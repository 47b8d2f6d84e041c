// The relative geodesic encoder (docs/design.md §1): for every (query z, anchor a)
// pair, walk the straight line z -> a in N steps through the metric map f and
// accumulate the output-space distances of consecutive points.
//
// Every output distance relgeo supports is a monotone function of a Euclidean
// distance after a per-point transform, which lets one loop serve all three:
//   euclidean  y -> y                       delta = |u - v|
//   sphere     y -> y / |y|                 delta = 2 asin(min(1, |u - v| / 2))
//   fisher     y -> sqrt(softmax(y))        delta = 4 asin(min(1, |u - v| / 2))
// The transform of f(z) and of f(a) is computed once and reused by every pair.
#include "relgeo/relative_encoder.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "encoder/affine_split.h"
#include "encoder/path_kernels.h"
#include "encoder/sign_split.h"
#include "encoder/torch_internal.h"

namespace relgeo {

const char* PathModeName(PathMode m) { return m == PathMode::kLength ? "length" : "energy"; }

Result<PathMode> ParsePathMode(const std::string& name) {
  if (name == "length") return PathMode::kLength;
  if (name == "energy") return PathMode::kEnergy;
  return Status::InvalidArgument("unknown path mode '" + name + "' (expected length or energy)");
}

namespace {

using internal::ChordKind;

ChordKind KindOf(OutputDistance d) {
  switch (d) {
    case OutputDistance::kEuclidean: return ChordKind::kEuclidean;
    case OutputDistance::kSphere: return ChordKind::kSphere;
    case OutputDistance::kFisher: return ChordKind::kFisher;
  }
  return ChordKind::kEuclidean;
}

// Default path points per batched map call when the options leave it at 0 (measured,
// docs/performance.md): a native lane is fastest when its buffers stay within ~4 MiB
// (cache; the MLP decoder is flat from 64 to 2048 rows, the conv decoder best at 32),
// capped at 512; a TorchScript rest or forward pays the interpreter and per-op passes
// per call and is best near 2048.
constexpr int64_t kNativeLaneBytes = int64_t{4} << 20;
constexpr int64_t kDefaultRowsNativeMax = 512;
constexpr int64_t kDefaultRowsTorchScript = 2048;
// Output columns per pass of the sign split's gathered GEMM: W^T's panel (h x 192
// floats, 384 KiB for h = 512) stays in a core's L2 while every line of a batch uses it.
constexpr int64_t kSignSplitPanel = 192;
// The sign split pays per line (unit indices, end-point interpolation) and its GEMM
// reuses each loaded row of W^T across the line's steps in a block: with one step per
// block (N = 2) the dense product is faster (measured 1.3x); from 2 steps on (N = 3:
// 1.12x, N = 4: 1.36x, N = 8: 1.76x) the split is.
constexpr int64_t kSignSplitMinSteps = 2;

}  // namespace

// The encoder's pipeline, per block of queries and group of (query, anchor) pairs:
//   1. pre(z) for the queries (pre(a) for the anchors was computed at Create), where
//      pre is the map's affine first layer (fast path) or the identity (generic);
//   2. for a block of steps j, the interpolated rows pre(z) + (j/N)(pre(a) - pre(z)) of
//      every pair of the group, written into one (rows x h) buffer;
//   3. one batched call of the rest of the map (or of the whole map) on that buffer;
//      with the relu sign split, steps 2-3 instead interpolate the first layer's
//      end-point products and add each line's sign-changing units (sign_split.h);
//   4. one fused pass per line: transform, chord to the previous point, accumulate.
// Only the last point of each line survives between step blocks, so the buffers are
// bounded by the rows per batch whatever N and K.
struct RelativeEncoder::Impl {
  std::shared_ptr<const MetricMap> map;
  EncoderOptions options;
  Matrix anchors;
  std::optional<internal::AffineSplit> split;  // set when the fast path is in use
  std::optional<internal::NativeRest> native;  // the rest as a native MLP plan, when it is one
  // The relu sign split (encoder/sign_split.h), when in use: the gathered GEMM for a
  // first linear layer, or the scatter layout of a first transposed convolution.
  internal::GatheredGemmFn sign_split = nullptr;
  std::optional<internal::ScatterConvT> conv_split;
  internal::GatheredConvTFn conv_gather = nullptr;  // its register-blocked kernel, when the CPU runs it
  bool split_on() const { return sign_split != nullptr || conv_split.has_value(); }
  int lanes = 1;                               // concurrent batches (native path)
  int64_t hdim = 0;                            // width of the interpolated space (h or d)
  int64_t mdim = 0;
  torch::Tensor anchor_pre;  // K x hdim, CPU float, contiguous
  torch::Tensor anchor_out;  // K x m, CPU float, transformed
  torch::Tensor anchor_lin;  // K x o0: W0 relu(pre(a)) without bias (sign split only)
  int64_t rows = 1;          // path points per batched map call
  int64_t query_block = 1;   // queries whose pre(z) and f(z) are held at once

  const MetricMap::Impl& m() const { return map->impl(); }
  ChordKind kind() const { return KindOf(m().distance); }

  // pre(x) for an (n x d) tensor on the map's device; returns a CPU contiguous tensor.
  torch::Tensor Pre(const torch::Tensor& x) const {
    torch::Tensor p = split ? split->Pre(x) : x;
    return p.to(torch::kCPU).contiguous();
  }

  // The map's output for rows of the interpolated space (CPU, rows x hdim): rows x m,
  // CPU float32 contiguous; the same checks as MetricMap::Impl::Forward.
  Result<torch::Tensor> Rest(const torch::Tensor& h) const {
    if (native) return NativeRestRows(h);
    torch::Tensor in = h.device() == m().device ? h : h.to(m().device);
    torch::Tensor out;
    if (!split) {
      RELGEO_ASSIGN_OR_RETURN(out, m().Forward(in));
    } else {
      Status st = GuardTorch("metric map forward failed", [&] {
        torch::jit::IValue v = split->Rest(in);
        if (!v.isTensor()) throw std::runtime_error("forward returned " + v.tagKind() + ", expected a tensor");
        out = v.toTensor();
      });
      RELGEO_RETURN_IF_ERROR(st);
      if (out.dim() < 1 || out.size(0) != in.size(0) || !out.is_floating_point() || out.numel() != in.size(0) * mdim)
        return Status::InvalidArgument("metric map returned an output of unexpected shape for " +
                                       std::to_string(in.size(0)) + " inputs");
      out = out.reshape({in.size(0), mdim});
    }
    if (out.scalar_type() != torch::kFloat32) out = out.to(torch::kFloat32);
    return out.to(torch::kCPU).contiguous();
  }

  // The native plan on CPU rows (n x hdim): n x m (used for f(z), f(a) and the probe).
  Result<torch::Tensor> NativeRestRows(const torch::Tensor& h) const {
    const internal::MlpPlan& P = native->plan;
    const int64_t n = h.size(0);
    torch::Tensor x = h.to(torch::kCPU, torch::kFloat32).contiguous().clone();
    std::vector<float> b1(static_cast<size_t>(n * P.max_width)), b2(b1.size());
    std::vector<float> b3(static_cast<size_t>(n * P.max_scratch));
    std::vector<uint16_t> half(static_cast<size_t>(n * std::max(P.max_width, P.max_scratch)));
    float* px = x.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r) internal::ApplyActs(px + r * hdim, hdim, nullptr, P.lead);
    float* y = P.Run(px, n, b1.data(), b2.data(), b3.data(), half.data());
    if (!y) return Status::Internal("dnnl_sgemm failed");
    torch::Tensor out = torch::empty({n, mdim}, torch::kFloat32);
    std::memcpy(out.data_ptr<float>(), y, sizeof(float) * n * mdim);
    for (int64_t r = 0; r < n; ++r) P.Finish(out.data_ptr<float>() + r * mdim);
    return out;
  }

  // L0(relu(pre)) for CPU rows (n x hdim), without L0's bias: n x o0, where L0 is the
  // native plan's first layer (the sign split's end-point products).
  Result<torch::Tensor> ReluFirstLayer(const torch::Tensor& pre) const {
    const internal::MlpPlan& P = native->plan;
    const int64_t n = pre.size(0), o0 = P.layers[0].out, chunk = 64;
    torch::Tensor x = pre.clamp_min(0.0).contiguous();
    torch::Tensor out = torch::empty({n, o0}, torch::kFloat32);
    std::vector<float> b3(static_cast<size_t>(chunk * P.max_scratch));
    for (int64_t r = 0; r < n; r += chunk)
      if (!P.Product(0, x.data_ptr<float>() + r * hdim, std::min(chunk, n - r), out.data_ptr<float>() + r * o0,
                     b3.data(), nullptr))
        return Status::Internal("dnnl_sgemm failed");
    return out;
  }

  // Whether the native plan is relu -> linear or transposed convolution -> ..., the
  // sign split's precondition (float32 only).
  bool SignSplitApplies() const {
    if (!native || native->plan.bf16) return false;
    const internal::MlpPlan& P = native->plan;
    return P.lead.size() == 1 && P.lead[0] == internal::Act::kRelu && !P.layers.empty() && P.layers[0].in == hdim;
  }

  // Transformed map outputs of rows of the interpolated space, in batches of `rows`.
  Result<torch::Tensor> TransformedOutputs(const torch::Tensor& h) const {
    const int64_t n = h.size(0);
    torch::Tensor res = torch::empty({n, mdim}, torch::kFloat32);
    for (int64_t b = 0; b < n; b += rows) {
      const int64_t r = std::min(rows, n - b);
      RELGEO_ASSIGN_OR_RETURN(torch::Tensor y, Rest(h.narrow(0, b, r)));
      float* dst = res.data_ptr<float>() + b * mdim;
      const float* src = y.data_ptr<float>();
      const ChordKind k = kind();
      for (int64_t i = 0; i < r; ++i) internal::TransformRow(src + i * mdim, mdim, k, dst + i * mdim);
    }
    return res;
  }

  // Chooses the batch sizes from the memory budget (docs/design.md §4.8):
  //   per path point in a batch: its interpolated row (hdim), the map's output (m),
  //   the map's own activations estimated as hdim + 4m, and the line's carried last
  //   point (m): 4 (2 hdim + 6 m) bytes (for a native MLP plan, at least its real
  //   buffers, 4 (hdim + 2 widest + m)); at most 3/4 of the budget, shared by the lanes
  //   (concurrent batches) of the native path.
  //   per query in a block: pre(z) and f(z): 4 (hdim + m) bytes; at most 1/4.
  void ChooseSizes() {
    const int64_t budget = options.memory_budget_bytes;
    int64_t row_bytes = 4 * (2 * hdim + 6 * mdim);
    // The native plan's own buffers per row: its input, two layer outputs, the conv
    // workspace, the carried point.
    // The sign split adds the per-line unit indices (at most hdim int32 per line).
    const int64_t native_row_bytes =
        native ? 4 * (hdim + 2 * native->plan.max_width + native->plan.max_scratch + mdim + (split_on() ? hdim : 0)) : 0;
    row_bytes = std::max(row_bytes, native_row_bytes);
    lanes = native ? std::max(1, at::get_num_threads()) : 1;
    const int64_t auto_rows =
        native ? std::clamp<int64_t>(kNativeLaneBytes / native_row_bytes, 16, kDefaultRowsNativeMax)
               : kDefaultRowsTorchScript;
    const int64_t want = options.rows_per_batch > 0 ? options.rows_per_batch : auto_rows;
    rows = std::max<int64_t>(1, std::min(want, budget / 4 * 3 / (row_bytes * lanes)));
    const int64_t lin = split_on() ? native->plan.layers[0].out : 0;  // the queries' W0 relu(pre(z))
    query_block = std::max<int64_t>(1, std::min<int64_t>(256, budget / 4 / (4 * (hdim + mdim + lin))));
  }

  // Checks that rest(pre(x)) reproduces f(x) on probe rows: the anchors and points
  // between them. Any disagreement or error disables the fast path.
  bool SplitAgrees(const torch::Tensor& anchors_dev) const {
    const int64_t K = anchors_dev.size(0);
    torch::Tensor a = anchors_dev.narrow(0, 0, std::min<int64_t>(K, 8));
    torch::Tensor probe = torch::cat({a, 0.5 * (a + a.flip(0)), 0.3 * a - 0.7 * a.roll(1, 0)});
    auto ref = m().Forward(probe);
    if (!ref.ok()) return false;
    torch::Tensor want = ref->to(torch::kCPU);
    auto got = Rest(split->Pre(probe));
    if (!got.ok() || got->sizes() != want.sizes()) return false;
    const double scale = std::max(1.0, want.abs().max().item<double>());
    return (*got - want).abs().max().item<double>() <= 1e-4 * scale;
  }
};

RelativeEncoder::RelativeEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RelativeEncoder::~RelativeEncoder() = default;
int64_t RelativeEncoder::num_anchors() const { return impl_->anchors.rows(); }
int64_t RelativeEncoder::latent_dim() const { return impl_->anchors.cols(); }
const EncoderOptions& RelativeEncoder::options() const { return impl_->options; }
const MetricMap& RelativeEncoder::map() const { return *impl_->map; }
bool RelativeEncoder::affine_fast_path() const { return impl_->split.has_value(); }
int64_t RelativeEncoder::rows_per_batch() const { return impl_->rows; }
std::string RelativeEncoder::execution_plan() const {
  const Impl& s = *impl_;
  if (!s.split) return "torchscript forward";
  std::string p = "affine " + s.split->description;
  if (s.native)
    return p + " + native:" + s.native->description + " (" + std::to_string(s.lanes) + " lanes" +
           (s.native->plan.bf16 ? ", bf16 GEMM" : "") +
           (s.sign_split ? std::string(", relu sign split ") + internal::GatheredGemmName(s.sign_split) : "") +
           (s.conv_split ? (s.conv_gather ? ", relu sign split conv avx512" : ", relu sign split conv portable") : "") +
           ")";
  return p + " + torchscript rest";
}

Result<std::unique_ptr<RelativeEncoder>> RelativeEncoder::Create(std::shared_ptr<const MetricMap> map,
                                                                 MatrixView anchors, const EncoderOptions& options) {
  if (!map) return Status::InvalidArgument("metric map is null");
  if (options.steps < 1) return Status::InvalidArgument("steps must be >= 1, got " + std::to_string(options.steps));
  if (options.memory_budget_bytes <= 0) return Status::InvalidArgument("memory budget must be positive");
  if (options.rows_per_batch < 0) return Status::InvalidArgument("rows_per_batch must be >= 0");
  if (anchors.rows() == 0) return Status::InvalidArgument("anchor set is empty (K = 0)");
  RELGEO_RETURN_IF_ERROR(CheckLatents(anchors, map->input_dim(), "anchor latents"));

  auto impl = std::make_unique<Impl>();
  impl->map = std::move(map);
  impl->options = options;
  impl->anchors = Matrix::CopyOf(anchors);
  impl->mdim = impl->map->output_dim();
  Status st = GuardTorch("encoding the anchors", [&] {
    c10::InferenceMode guard;
    torch::Tensor a = TensorView(impl->anchors).to(impl->m().device).clone();
    if (options.allow_affine_fast_path) {
      impl->split = internal::DetectAffineSplit(impl->m().module);
      if (impl->split && (impl->split->in_dim() != a.size(1) || impl->split->weight_t.device() != a.device()))
        impl->split.reset();
      if (impl->split) {
        impl->hdim = impl->split->hidden_dim();
        impl->mdim = impl->map->output_dim();
        // The native plan runs on the CPU; maps on another device keep TorchScript.
        if (options.allow_native_mlp && impl->m().device.is_cpu())
          impl->native = internal::DetectNativeRest(*impl->split);
        if (impl->native && impl->native->plan.out_dim != impl->mdim) impl->native.reset();
        if (impl->native && !impl->SplitAgrees(a)) impl->native.reset();  // check the native plan...
        if (!impl->SplitAgrees(a)) impl->split.reset();                    // ...then the TorchScript rest
        if (!impl->split) impl->native.reset();
        // Reduced precision only after the structure was checked in float32.
        if (impl->native && options.precision == EncoderPrecision::kBFloat16 && impl->native->plan.bgemm)
          impl->native->plan.bf16 = true;
      }
    }
    impl->hdim = impl->split ? impl->split->hidden_dim() : a.size(1);
    if (options.allow_relu_sign_split && impl->SignSplitApplies()) {
      const internal::MlpPlan::Layer& L0 = impl->native->plan.layers[0];
      if (L0.kind == internal::MlpPlan::Layer::kLinear)
        impl->sign_split = internal::GatheredGemmFor(internal::GemmIsa::kBest);
      else {  // a transposed convolution
        impl->conv_split = internal::ScatterConvT::Build(L0.wt, L0.cin, L0.hin, L0.win, L0.cout, L0.k, L0.stride,
                                                         L0.pad, L0.hout, L0.wout);
        impl->conv_gather = internal::GatheredConvTFor(*impl->conv_split);
      }
    }
    impl->ChooseSizes();
    if (impl->split_on() && std::min<int64_t>(options.steps - 1, impl->rows) < kSignSplitMinSteps) {
      impl->sign_split = nullptr;
      impl->conv_split.reset();
      impl->ChooseSizes();
    }
    impl->anchor_pre = impl->Pre(a);
    if (impl->split_on()) {
      auto lin = impl->ReluFirstLayer(impl->anchor_pre);
      if (!lin.ok()) throw std::runtime_error(lin.status().message());
      impl->anchor_lin = *lin;
    }
    auto fa = impl->TransformedOutputs(impl->anchor_pre);
    if (!fa.ok()) throw std::runtime_error(fa.status().message());
    impl->anchor_out = *fa;
  });
  RELGEO_RETURN_IF_ERROR(st);
  return std::unique_ptr<RelativeEncoder>(new RelativeEncoder(std::move(impl)));
}

Result<Matrix> RelativeEncoder::Encode(MatrixView latents) const {
  const Impl& s = *impl_;
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, s.anchors.cols(), "latents"));
  const int64_t n = latents.rows(), K = s.anchors.rows(), h = s.hdim, m = s.mdim;
  const int N = s.options.steps;
  const bool energy = s.options.mode == PathMode::kEnergy;
  const ChordKind kind = s.kind();
  const int64_t interior = N - 1;  // path points per line that need the map
  // Rows per batch = (pairs in a group) x (steps in a block): every interior step of
  // a line in one batch when they fit, else blocks of steps carried over.
  const int64_t step_block = std::max<int64_t>(1, std::min<int64_t>(interior, s.rows));
  const int64_t pair_group = std::max<int64_t>(1, s.rows / step_block);
  const int64_t batch_rows = std::min(pair_group * step_block, s.rows);
  Matrix out(n, K);

  // One group of pairs [g0, g0 + g) of the current query block, all steps. `produce`
  // writes the raw map outputs of steps [j0, j0 + sb) of the group's lines (g sb rows
  // x m, line-major) and `finish` completes one raw output row in place (the native
  // plan's last bias and activations).
  struct Lane {
    std::vector<float> last, scratch;
    std::vector<double> acc;
  };
  auto process_group = [&](Lane& lane, const float* fz, int64_t q0, int64_t g0, int64_t g, const auto& produce,
                           const auto& finish, bool parallel) -> Status {
    const float* fa = s.anchor_out.data_ptr<float>();
    std::fill(lane.acc.begin(), lane.acc.begin() + g, 0.0);
    for (int64_t j0 = 1; j0 <= interior; j0 += step_block) {
      const int64_t sb = std::min(step_block, interior - j0 + 1);
      const float* y = nullptr;
      RELGEO_RETURN_IF_ERROR(produce(j0, sb, g0, g, &y));
      auto accumulate = [&](int64_t b, int64_t e, float* scratch) {
        for (int64_t pp = b; pp < e; ++pp) {
          float* rows = const_cast<float*>(y) + pp * sb * m;
          for (int64_t r = 0; r < sb; ++r) finish(rows + r * m);
          const float* prev = j0 == 1 ? fz + ((g0 + pp) / K) * m : lane.last.data() + pp * m;
          internal::AccumulateLine(rows, sb, m, kind, energy, prev, scratch, lane.last.data() + pp * m, &lane.acc[pp]);
        }
      };
      if (parallel) {
        at::parallel_for(0, g, std::max<int64_t>(1, 4096 / (m * sb)), [&](int64_t b, int64_t e) {
          std::vector<float> scratch(static_cast<size_t>(2 * m));
          accumulate(b, e, scratch.data());
        });
      } else {
        accumulate(0, g, lane.scratch.data());
      }
    }
    // The last segment ends at f(a).
    float* o = out.data() + q0 * K + g0;
    for (int64_t pp = 0; pp < g; ++pp) {
      const int64_t p = g0 + pp;
      const float* prev = interior == 0 ? fz + (p / K) * m : lane.last.data() + pp * m;
      const double delta = internal::DeltaFromChord(internal::Chord(prev, fa + (p % K) * m, m), kind);
      const double total = lane.acc[pp] + (energy ? delta * delta : delta);
      o[pp] = static_cast<float>(energy ? 0.5 * N * total : total);
    }
    return Status::OK();
  };
  auto new_lane = [&] {
    Lane l;
    l.last.resize(static_cast<size_t>(pair_group * m));
    l.scratch.resize(static_cast<size_t>(2 * m));
    l.acc.resize(static_cast<size_t>(pair_group));
    return l;
  };
  auto step_t = [&](int64_t j) { return static_cast<float>(static_cast<double>(j) / N); };
  // The interpolated rows pre(z) + (j/N)(pre(a) - pre(z)) of rows [b, e) of a batch.
  auto fill = [&](float* hp, const float* pz, int64_t j0, int64_t sb, int64_t g0, int64_t b, int64_t e) {
    const float* pa = s.anchor_pre.data_ptr<float>();
    for (int64_t r = b; r < e; ++r) {
      const int64_t p = g0 + r / sb, j = j0 + r % sb;
      internal::InterpolateRow(pz + (p / K) * h, pa + (p % K) * h, step_t(j), h, hp + r * h);
    }
  };

  Status st = GuardTorch("encoding", [&] {
    c10::InferenceMode guard;
    for (int64_t q0 = 0; q0 < n; q0 += s.query_block) {
      const int64_t q = std::min(s.query_block, n - q0);
      torch::Tensor z = TensorView(latents.RowSlice(q0, q)).to(s.m().device);
      torch::Tensor pz_t = s.Pre(z);
      auto fz_r = s.TransformedOutputs(pz_t);
      if (!fz_r.ok()) throw std::runtime_error(fz_r.status().message());
      torch::Tensor fz_t = *fz_r;
      const float* pz = pz_t.data_ptr<float>();
      const float* fz = fz_t.data_ptr<float>();
      torch::Tensor lz_t;
      if (s.split_on()) {
        auto lz = s.ReluFirstLayer(pz_t);
        if (!lz.ok()) throw std::runtime_error(lz.status().message());
        lz_t = *lz;
      }
      const int64_t pairs = q * K, groups = (pairs + pair_group - 1) / pair_group;
      if (s.native) {
        // Native plan: `lanes` concurrent batches, each single-threaded end to end (its
        // GEMMs included), pulling groups dynamically; OpenMP is the only thread pool.
        const internal::MlpPlan& P = s.native->plan;
        std::atomic<bool> failed{false};
#pragma omp parallel num_threads(s.lanes)
        {
          Lane lane = new_lane();
          std::vector<float> x(static_cast<size_t>(batch_rows * h));
          std::vector<float> b1(static_cast<size_t>(batch_rows * P.max_width)), b2(b1.size());
          std::vector<float> b3(static_cast<size_t>(batch_rows * P.max_scratch));
          std::vector<uint16_t> half(P.bf16 ? static_cast<size_t>(batch_rows * std::max(P.max_width, P.max_scratch)) : 0);
          auto dense = [&](int64_t j0, int64_t sb, int64_t g0, int64_t g, const float** y) -> Status {
            fill(x.data(), pz, j0, sb, g0, 0, g * sb);
            for (int64_t r = 0; r < g * sb; ++r) internal::ApplyActs(x.data() + r * h, h, nullptr, P.lead);
            *y = P.Run(x.data(), g * sb, b1.data(), b2.data(), b3.data(), half.data());
            return *y ? Status::OK() : Status::Internal("dnnl_sgemm failed");
          };
          // The relu sign split (encoder/sign_split.h): first layer's output of every
          // row = the end points' products interpolated + the gathered product of the
          // line's sign-changing units (corrections in x, their indices in idx).
          std::vector<int32_t> idx(s.split_on() ? static_cast<size_t>(pair_group * h + 16) : 0);
          std::vector<int64_t> nnz(s.split_on() ? static_cast<size_t>(pair_group) : 0);
          std::vector<float> ts(static_cast<size_t>(step_block)), ends(s.split_on() ? static_cast<size_t>(2 * h + 32) : 0);
          std::vector<int32_t> conv_scratch(s.conv_gather ? static_cast<size_t>(4 * h + 1) : 0);
          auto split = [&](int64_t j0, int64_t sb, int64_t g0, int64_t g, const float** y) -> Status {
            const internal::MlpPlan::Layer& L0 = P.layers[0];
            const int64_t o0 = L0.out;
            const float* pa = s.anchor_pre.data_ptr<float>();
            const float* la = s.anchor_lin.data_ptr<float>();
            const float* lz = lz_t.data_ptr<float>();
            float* Y = b1.data();
            for (int64_t i = 0; i < sb; ++i) ts[i] = step_t(j0 + i);
            for (int64_t pp = 0; pp < g; ++pp) {
              const int64_t p = g0 + pp, zi = p / K, ai = p % K;
              nnz[pp] = internal::SignChangeCorrections(pz + zi * h, pa + ai * h, h, ts.data(), sb,
                                                        idx.data() + pp * h, x.data() + pp * sb * h, h, ends.data(),
                                                        internal::GemmIsa::kBest);
              for (int64_t i = 0; i < sb; ++i)
                internal::InterpolateRow(lz + zi * o0, la + ai * o0, ts[i], o0, Y + (pp * sb + i) * o0);
            }
            if (s.sign_split) {
              for (int64_t c0 = 0; c0 < o0; c0 += kSignSplitPanel) {
                const int64_t c1 = std::min(o0, c0 + kSignSplitPanel);
                for (int64_t pp = 0; pp < g; ++pp)
                  s.sign_split(sb, nnz[pp], x.data() + pp * sb * h, h, idx.data() + pp * h, L0.wt, o0, c0, c1,
                               Y + pp * sb * o0, o0);
              }
            } else {
              // Pixel-major into b2, then added channel-major (NCHW) into Y.
              const internal::ScatterConvT& T = *s.conv_split;
              float* S = b2.data();
              if (!s.conv_gather) std::fill(S, S + g * sb * o0, 0.0f);
              for (int64_t pp = 0; pp < g; ++pp) {
                const float* Cp = x.data() + pp * sb * h;
                if (s.conv_gather)
                  s.conv_gather(T, sb, nnz[pp], Cp, h, idx.data() + pp * h, S + pp * sb * o0, o0, conv_scratch.data());
                else
                  internal::ScatterConvTRows(T, sb, nnz[pp], Cp, h, idx.data() + pp * h, S + pp * sb * o0, o0);
              }
              internal::AddPixelMajorToChannelMajor(T, S, g * sb, o0, Y);
            }
            *y = Y;
            if (P.layers.size() == 1) return Status::OK();
            for (int64_t r = 0; r < g * sb; ++r) internal::ApplyActs(Y + r * o0, o0, L0.bias, L0.acts);
            *y = P.Run(Y, g * sb, b1.data(), b2.data(), b3.data(), half.data(), 1);
            return *y ? Status::OK() : Status::Internal("dnnl_sgemm failed");
          };
          auto produce = [&](int64_t j0, int64_t sb, int64_t g0, int64_t g, const float** y) -> Status {
            return s.split_on() && sb >= kSignSplitMinSteps ? split(j0, sb, g0, g, y) : dense(j0, sb, g0, g, y);
          };
          auto finish = [&](float* row) { P.Finish(row); };
#pragma omp for schedule(dynamic, 1)
          for (int64_t gi = 0; gi < groups; ++gi) {
            if (failed.load(std::memory_order_relaxed)) continue;
            const int64_t g0 = gi * pair_group, g = std::min(pair_group, pairs - g0);
            if (!process_group(lane, fz, q0, g0, g, produce, finish, false).ok()) failed = true;
          }
        }
        if (failed) throw std::runtime_error("the native MLP evaluation failed (dnnl_sgemm)");
      } else {
        // TorchScript rest (or the whole map): one batch at a time, parallel inside.
        Lane lane = new_lane();
        torch::Tensor hbuf = torch::empty({batch_rows, h}, torch::kFloat32);
        torch::Tensor y_keep;
        auto run = [&](int64_t j0, int64_t sb, int64_t g0, int64_t g, const float** y) -> Status {
          float* hp = hbuf.data_ptr<float>();
          at::parallel_for(0, g * sb, std::max<int64_t>(1, 8192 / h),
                           [&](int64_t b, int64_t e) { fill(hp, pz, j0, sb, g0, b, e); });
          RELGEO_ASSIGN_OR_RETURN(y_keep, s.Rest(hbuf.narrow(0, 0, g * sb)));
          *y = y_keep.data_ptr<float>();
          return Status::OK();
        };
        auto finish = [](float*) {};
        for (int64_t gi = 0; gi < groups; ++gi) {
          const int64_t g0 = gi * pair_group, g = std::min(pair_group, pairs - g0);
          Status gs = process_group(lane, fz, q0, g0, g, run, finish, true);
          if (!gs.ok()) throw std::runtime_error(gs.message());
        }
      }
    }
  });
  RELGEO_RETURN_IF_ERROR(st);
  for (int64_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out.data()[i]))
      return Status::InvalidArgument("the metric map produced a non-finite output for query row " +
                                     std::to_string(i / K) + "; check the map on these latents");
  }
  return out;
}

}  // namespace relgeo
