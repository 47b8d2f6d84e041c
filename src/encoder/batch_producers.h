// Internal to the encoder: the batch producers of the line walk (line_walker.h). Each
// writes the raw map outputs of one Batch (rows x m, line-major) and owns the buffers
// it needs for that; the walker then completes every raw row with Finish (the native
// plan's last bias and activations, which it leaves for the walker's pass over the
// row while it is in cache) and accumulates the line. No LibTorch here.
//
//   DenseNativeProducer   interpolated rows through the native plan (§4.4)
//   SignSplitProducer     the native plan with its first layer by the relu sign split (§4.5)
//   TorchScriptProducer   interpolated rows through the TorchScript rest or forward (§4.2)
//
// The native producers run inside one lane, single-threaded end to end: the walker
// accumulates their batches serially. The TorchScript producer runs one batch at a
// time with LibTorch's threads inside, so the walker accumulates in parallel too
// (kParallelAccumulate).
#pragma once

#include <cstdint>
#include <vector>

#include "encoder/encoder_plan.h"
#include "encoder/line_walker.h"

namespace relgeo::internal {

class DenseNativeProducer {
 public:
  static constexpr bool kParallelAccumulate = false;
  DenseNativeProducer(const EncoderPlan& plan, const WalkShape& w);
  Result<float*> Produce(const QueryBlock& qb, const Batch& b);
  void Finish(float* row) const { P_.Finish(row); }

 private:
  friend class SignSplitProducer;  // runs its short step blocks here and shares the buffers
  // MlpPlan::Run from layer `first` on the batch's rows x (in b1_, b2_), with the
  // active-interval product for the layers behind a relu where it pays.
  float* RunLayers(float* x, const Batch& b, size_t first);

  const EncoderPlan& plan_;
  const WalkShape& w_;
  const MlpPlan& P_;
  // The batch's input rows, the native plan's layer outputs (b1, b2) and conv
  // workspace (b3), and the bfloat16 copies of GEMM inputs (bf16 only).
  std::vector<float> x_, b1_, b2_, b3_;
  std::vector<uint16_t> half_;
  IntervalScratch interval_;  // the active-interval product's sorted blocks
};

// First layer's output of every row = the end points' products interpolated + the
// gathered product of the line's sign-changing units; the rest of the native plan
// from there. Step blocks shorter than kSignSplitMinSteps take the dense product.
class SignSplitProducer {
 public:
  static constexpr bool kParallelAccumulate = false;
  SignSplitProducer(const EncoderPlan& plan, const WalkShape& w);
  Result<float*> Produce(const QueryBlock& qb, const Batch& b);
  void Finish(float* row) const { dense_.Finish(row); }

 private:
  void Corrections(const QueryBlock& qb, const Batch& b, float* Y);
  void GatheredLinear(const Batch& b, float* Y) const;
  void GatheredConvT(const Batch& b, float* Y);

  DenseNativeProducer dense_;  // its x_ holds the corrections, b1_ the first layer's output
  const EncoderPlan& plan_;
  const WalkShape& w_;
  // Per line of the group: the sign-changing units' indices (h each) and count, and
  // their tents' bin starts (linear layer); the batch's step positions;
  // SignChangeCorrections', SignChangeTents' and the conv kernel's scratch.
  std::vector<int32_t> idx_, bins_, tent_scratch_;
  std::vector<int64_t> nnz_;
  std::vector<float> ts_, ends_;
  std::vector<int32_t> conv_scratch_;
};

// How many batches took the active-interval product, over every encoder and thread
// (tests check it runs where the plan says so).
uint64_t IntervalProductBatches();

class TorchScriptProducer {
 public:
  static constexpr bool kParallelAccumulate = true;
  TorchScriptProducer(const EncoderPlan& plan, const WalkShape& w);
  Result<float*> Produce(const QueryBlock& qb, const Batch& b);
  void Finish(float*) const {}

 private:
  const EncoderPlan& plan_;
  const WalkShape& w_;
  std::vector<float> rows_;  // the batch's interpolated rows (batch_rows x h)
  TensorRows out_;           // the map's output for them, held until the next batch
};

}  // namespace relgeo::internal
