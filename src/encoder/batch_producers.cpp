#include "encoder/batch_producers.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>

namespace relgeo::internal {
namespace {

std::atomic<uint64_t> g_interval_batches{0};

// The interpolated rows of rows [r0, r1) of a batch: pre(z) + t_j (pre(a) - pre(z)), or
// behind a LayerNorm alpha pre(z) + beta pre(a) + (1 - alpha - beta) b' with
// alpha = (1-t) sigma(z) / sigma(t), beta = t sigma(a) / sigma(t) and
// sigma(t)^2 = |(1-t) c(z) + t c(a)|^2 / d + eps (affine_split.h).
void FillInterpolated(const EncoderPlan& plan, const WalkShape& w, const QueryBlock& qb, const Batch& b, int64_t r0,
                      int64_t r1, float* rows) {
  const float* pz = qb.pre;
  const float* pa = plan.anchor_pre.get();
  if (!plan.normalized()) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = b.g0 + r / b.sb, j = b.j0 + r % b.sb;
      InterpolateRow(pz + (p / w.K) * w.h, pa + (p % w.K) * w.h, w.t(j), w.h, rows + r * w.h);
    }
    return;
  }
  const float* ca = plan.anchor_cen.get();
  const float* sa = plan.anchor_sigma.get();
  const float* bias = plan.norm_bias.get();
  const int64_t d = plan.ndim;
  const double eps = plan.norm_eps;
  int64_t cached = -1;
  double vz = 0, va = 0, cross = 0;  // |c(z)|^2 / d, |c(a)|^2 / d, <c(z), c(a)> / d
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t p = b.g0 + r / b.sb, j = b.j0 + r % b.sb, zi = p / w.K, ai = p % w.K;
    if (p != cached) {
      cached = p;
      vz = double(qb.sigma[zi]) * qb.sigma[zi] - eps;
      va = double(sa[ai]) * sa[ai] - eps;
      cross = Dot(qb.cen + zi * d, ca + ai * d, d);
    }
    const double t = w.t(j), s = 1 - t;
    const double sigma_t = std::sqrt(std::max(0.0, s * s * vz + 2 * s * t * cross + t * t * va) + eps);
    const double alpha = s * qb.sigma[zi] / sigma_t, beta = t * sa[ai] / sigma_t;
    CombineRows(pz + zi * w.h, pa + ai * w.h, bias, static_cast<float>(alpha), static_cast<float>(beta),
                static_cast<float>(1 - alpha - beta), w.h, rows + r * w.h);
  }
}

}  // namespace

// ---- dense native ----------------------------------------------------------------------

DenseNativeProducer::DenseNativeProducer(const EncoderPlan& plan, const WalkShape& w)
    : plan_(plan), w_(w), P_(*plan.native()) {
  const size_t rows = static_cast<size_t>(w.batch_rows);
  x_.resize(rows * w.h);
  b1_.resize(rows * P_.max_width);
  b2_.resize(b1_.size());
  b3_.resize(rows * P_.max_scratch);
  half_.resize(P_.bf16 ? rows * std::max(P_.max_width, P_.max_scratch) : 0);
  if (plan.interval_gemm) interval_.Reserve(w.pair_group, w.step_block, P_.max_width);
}

Result<float*> DenseNativeProducer::Produce(const QueryBlock& qb, const Batch& b) {
  const int64_t n = b.rows(), h = w_.h;
  FillInterpolated(plan_, w_, qb, b, 0, n, x_.data());
  for (int64_t r = 0; r < n; ++r) ApplyActs(x_.data() + r * h, h, nullptr, P_.lead);
  float* y = RunLayers(x_.data(), b, 0);
  if (!y) return Status::Internal("dnnl_sgemm failed");
  return y;
}

float* DenseNativeProducer::RunLayers(float* x, const Batch& b, size_t first) {
  auto intervals = [&](size_t l, const float* in, float* dst) {
    if (b.sb < 2 || !plan_.interval_on(l)) return false;
    const MlpPlan::Layer& L = P_.layers[l];
    if (!IntervalBatchProduct(plan_.interval_gemm, in, L.in, b.g, b.sb, L.wt, L.out, kSignSplitPanel,
                              kIntervalMaxDensity, &interval_, dst))
      return false;
    g_interval_batches.fetch_add(1, std::memory_order_relaxed);
    return true;
  };
  return P_.Run(x, b.rows(), b1_.data(), b2_.data(), b3_.data(), half_.data(), first, intervals);
}

// ---- relu sign split -------------------------------------------------------------------

SignSplitProducer::SignSplitProducer(const EncoderPlan& plan, const WalkShape& w)
    : dense_(plan, w), plan_(plan), w_(w) {
  idx_.resize(static_cast<size_t>(w.pair_group * w.h + 16));  // + SignChangeCorrections' scratch tail
  nnz_.resize(static_cast<size_t>(w.pair_group));
  ts_.resize(static_cast<size_t>(w.step_block));
  ends_.resize(static_cast<size_t>(2 * w.h + 32));
  if (plan.sign_split) {
    bins_.resize(static_cast<size_t>(w.pair_group * (w.step_block + 2)));
    tent_scratch_.resize(static_cast<size_t>(2 * w.h + 32));
  }
  conv_scratch_.resize(plan.conv_gather ? static_cast<size_t>(4 * w.h + 1) : 0);
}

// For every line of the batch: its sign-changing units (indices in idx_; in dense_.x_
// their tents (beta, gamma) for a linear layer, or their corrections c(t), one row per
// step, for a transposed convolution) and the interpolated end-point products
// (1-t) W0 relu(pre(z)) + t W0 relu(pre(a)) written to Y.
void SignSplitProducer::Corrections(const QueryBlock& qb, const Batch& b, float* Y) {
  const int64_t h = w_.h, K = w_.K, sb = b.sb, o0 = dense_.P_.layers[0].out;
  const float* pa = plan_.anchor_pre.get();
  const float* la = plan_.anchor_lin.get();
  for (int64_t i = 0; i < sb; ++i) ts_[i] = w_.t(b.j0 + i);
  for (int64_t pp = 0; pp < b.g; ++pp) {
    const int64_t p = b.g0 + pp, zi = p / K, ai = p % K;
    if (plan_.sign_split)  // the step positions increase within a block, as the tents need
      nnz_[pp] = SignChangeTents(qb.pre + zi * h, pa + ai * h, h, ts_.data(), sb, idx_.data() + pp * h,
                                 dense_.x_.data() + pp * 2 * h, bins_.data() + pp * (sb + 2), ends_.data(),
                                 tent_scratch_.data(), GemmIsa::kBest);
    else
      nnz_[pp] = SignChangeCorrections(qb.pre + zi * h, pa + ai * h, h, ts_.data(), sb, idx_.data() + pp * h,
                                       dense_.x_.data() + pp * sb * h, h, ends_.data(), GemmIsa::kBest);
    for (int64_t i = 0; i < sb; ++i)
      InterpolateRow(qb.lin + zi * o0, la + ai * o0, ts_[i], o0, Y + (pp * sb + i) * o0);
  }
}

// Y += W0 c(t) from each line's tents, in column panels of W0^T that stay in L2 while
// every line of the batch uses them.
void SignSplitProducer::GatheredLinear(const Batch& b, float* Y) const {
  const MlpPlan::Layer& L0 = dense_.P_.layers[0];
  const int64_t h = w_.h, sb = b.sb, o0 = L0.out;
  const float* C = dense_.x_.data();
  for (int64_t c0 = 0; c0 < o0; c0 += kSignSplitPanel) {
    const int64_t c1 = std::min(o0, c0 + kSignSplitPanel);
    for (int64_t pp = 0; pp < b.g; ++pp)
      plan_.sign_split(sb, ts_.data(), bins_.data() + pp * (sb + 2), C + pp * 2 * h, idx_.data() + pp * h, L0.wt, o0,
                       c0, c1, Y + pp * sb * o0, o0);
  }
}

// Y += the transposed convolution of the corrections: pixel-major into b2, then added
// channel-major (NCHW) into Y.
void SignSplitProducer::GatheredConvT(const Batch& b, float* Y) {
  const ScatterConvT& T = *plan_.conv_split;
  const int64_t h = w_.h, sb = b.sb, o0 = dense_.P_.layers[0].out;
  const float* C = dense_.x_.data();
  float* S = dense_.b2_.data();
  if (!plan_.conv_gather) std::fill(S, S + b.rows() * o0, 0.0f);  // the portable kernel adds
  for (int64_t pp = 0; pp < b.g; ++pp) {
    const float* Cp = C + pp * sb * h;
    if (plan_.conv_gather)
      plan_.conv_gather(T, sb, nnz_[pp], Cp, h, idx_.data() + pp * h, S + pp * sb * o0, o0, conv_scratch_.data());
    else
      ScatterConvTRows(T, sb, nnz_[pp], Cp, h, idx_.data() + pp * h, S + pp * sb * o0, o0);
  }
  AddPixelMajorToChannelMajor(T, S, b.rows(), o0, Y);
}

Result<float*> SignSplitProducer::Produce(const QueryBlock& qb, const Batch& b) {
  if (b.sb < kSignSplitMinSteps) return dense_.Produce(qb, b);
  const MlpPlan& P = dense_.P_;
  const MlpPlan::Layer& L0 = P.layers[0];
  float* Y = dense_.b1_.data();
  Corrections(qb, b, Y);
  if (plan_.sign_split)
    GatheredLinear(b, Y);
  else
    GatheredConvT(b, Y);
  // A one-layer plan leaves L0's bias and activations to Finish, like Run.
  if (P.layers.size() == 1) return Y;
  for (int64_t r = 0; r < b.rows(); ++r) ApplyActs(Y + r * L0.out, L0.out, L0.bias, L0.acts);
  float* y = dense_.RunLayers(Y, b, 1);
  if (!y) return Status::Internal("dnnl_sgemm failed");
  return y;
}

uint64_t IntervalProductBatches() { return g_interval_batches.load(std::memory_order_relaxed); }

// ---- TorchScript -----------------------------------------------------------------------

TorchScriptProducer::TorchScriptProducer(const EncoderPlan& plan, const WalkShape& w)
    : plan_(plan), w_(w), rows_(static_cast<size_t>(w.batch_rows * w.h)) {}

Result<float*> TorchScriptProducer::Produce(const QueryBlock& qb, const Batch& b) {
  float* rows = rows_.data();
  at::parallel_for(0, b.rows(), std::max<int64_t>(1, 8192 / w_.h), [&](int64_t r0, int64_t r1) {
    FillInterpolated(plan_, w_, qb, b, r0, r1, rows);
  });
  RELGEO_ASSIGN_OR_RETURN(out_, EvaluateRest(plan_, rows, b.rows()));
  return out_.get();
}

}  // namespace relgeo::internal
