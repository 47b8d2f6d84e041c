#include "encoder/batch_producers.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace relgeo::internal {
namespace {

// The interpolated rows pre(z) + t_j (pre(a) - pre(z)) of rows [r0, r1) of a batch.
void FillInterpolated(const WalkShape& w, const float* pz, const float* pa, const Batch& b, int64_t r0, int64_t r1,
                      float* rows) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t p = b.g0 + r / b.sb, j = b.j0 + r % b.sb;
    InterpolateRow(pz + (p / w.K) * w.h, pa + (p % w.K) * w.h, w.t(j), w.h, rows + r * w.h);
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
}

Result<float*> DenseNativeProducer::Produce(const QueryBlock& qb, const Batch& b) {
  const int64_t n = b.rows(), h = w_.h;
  FillInterpolated(w_, qb.pre, plan_.anchor_pre.get(), b, 0, n, x_.data());
  for (int64_t r = 0; r < n; ++r) ApplyActs(x_.data() + r * h, h, nullptr, P_.lead);
  float* y = P_.Run(x_.data(), n, b1_.data(), b2_.data(), b3_.data(), half_.data());
  if (!y) return Status::Internal("dnnl_sgemm failed");
  return y;
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
  float* y = P.Run(Y, b.rows(), dense_.b1_.data(), dense_.b2_.data(), dense_.b3_.data(), dense_.half_.data(), 1);
  if (!y) return Status::Internal("dnnl_sgemm failed");
  return y;
}

// ---- TorchScript -----------------------------------------------------------------------

TorchScriptProducer::TorchScriptProducer(const EncoderPlan& plan, const WalkShape& w)
    : plan_(plan), w_(w), rows_(static_cast<size_t>(w.batch_rows * w.h)) {}

Result<float*> TorchScriptProducer::Produce(const QueryBlock& qb, const Batch& b) {
  float* rows = rows_.data();
  at::parallel_for(0, b.rows(), std::max<int64_t>(1, 8192 / w_.h), [&](int64_t r0, int64_t r1) {
    FillInterpolated(w_, qb.pre, plan_.anchor_pre.get(), b, r0, r1, rows);
  });
  RELGEO_ASSIGN_OR_RETURN(out_, EvaluateRest(plan_, rows, b.rows()));
  return out_.get();
}

}  // namespace relgeo::internal
