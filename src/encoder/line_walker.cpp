// The batched line walk (docs/design.md §4.2, pipeline in line_walker.h).
//
// Every output distance relgeo supports is a monotone function of a Euclidean
// distance after a per-point transform, which lets one loop serve all three:
//   euclidean  y -> y                       delta = |u - v|
//   sphere     y -> y / |y|                 delta = 2 asin(min(1, |u - v| / 2))
//   fisher     y -> sqrt(softmax(y))        delta = 4 asin(min(1, |u - v| / 2))
// The transform of f(z) and of f(a) is computed once (encoder_plan.cpp) and reused by
// every pair.
#include "encoder/line_walker.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "encoder/batch_producers.h"
#include "encoder/encoder_plan.h"
#include "util/status_error.h"

namespace relgeo::internal {

WalkShape WalkShape::Of(const EncoderPlan& plan) {
  WalkShape w;
  w.K = plan.num_anchors;
  w.h = plan.hdim;
  w.m = plan.mdim;
  w.N = plan.steps;
  w.energy = plan.energy;
  w.kind = plan.kind;
  w.interior = w.N - 1;
  w.step_block = std::max<int64_t>(1, std::min<int64_t>(w.interior, plan.rows));
  w.pair_group = std::max<int64_t>(1, plan.rows / w.step_block);
  w.batch_rows = std::min(w.pair_group * w.step_block, plan.rows);
  return w;
}

namespace {

// What a lane carries for the lines of the group it walks: the last transformed point
// of every line (the only one kept between step blocks), the running length or energy
// sums, and AccumulateLine's scratch.
struct LineState {
  std::vector<float> last, scratch;
  std::vector<double> acc;

  explicit LineState(const WalkShape& w)
      : last(static_cast<size_t>(w.pair_group * w.m)),
        scratch(static_cast<size_t>(2 * w.m)),
        acc(static_cast<size_t>(w.pair_group)) {}
};

// Lines [pp0, pp1) of the group through the batch's raw outputs y: each row finished in
// place, then one fused pass per line from its previous point (f(z) in the first block).
template <class Producer>
void AccumulateLines(const WalkShape& w, const QueryBlock& qb, const Batch& b, float* y, const Producer& producer,
                     LineState& lines, int64_t pp0, int64_t pp1, float* scratch) {
  const int64_t m = w.m, sb = b.sb;
  for (int64_t pp = pp0; pp < pp1; ++pp) {
    float* rows = y + pp * sb * m;
    for (int64_t r = 0; r < sb; ++r) producer.Finish(rows + r * m);
    const float* prev = b.j0 == 1 ? qb.out + ((b.g0 + pp) / w.K) * m : lines.last.data() + pp * m;
    AccumulateLine(rows, sb, m, w.kind, w.energy, prev, scratch, lines.last.data() + pp * m, &lines.acc[pp]);
  }
}

// The last segment of every line of the group ends at f(a); the totals go to `out`.
void FinishLines(const EncoderPlan& plan, const WalkShape& w, const QueryBlock& qb, int64_t g0, int64_t g,
                 const LineState& lines, Matrix* out) {
  const int64_t K = w.K, m = w.m;
  const float* fa = plan.anchor_out.get();
  float* o = out->data() + qb.q0 * K + g0;
  for (int64_t pp = 0; pp < g; ++pp) {
    const int64_t p = g0 + pp;
    const float* prev = w.interior == 0 ? qb.out + (p / K) * m : lines.last.data() + pp * m;
    const double delta = DeltaFromChord(Chord(prev, fa + (p % K) * m, m), w.kind);
    const double total = lines.acc[pp] + (w.energy ? delta * delta : delta);
    o[pp] = static_cast<float>(w.energy ? 0.5 * w.N * total : total);
  }
}

// One group of pairs [g0, g0 + g) of a query block, all steps: a batch per step block,
// accumulated as it comes, so only the lines' last points are carried.
template <class Producer>
Status WalkGroup(const EncoderPlan& plan, const WalkShape& w, const QueryBlock& qb, int64_t g0, int64_t g,
                 Producer& producer, LineState& lines, Matrix* out) {
  std::fill(lines.acc.begin(), lines.acc.begin() + g, 0.0);
  for (int64_t j0 = 1; j0 <= w.interior; j0 += w.step_block) {
    const Batch b{j0, std::min(w.step_block, w.interior - j0 + 1), g0, g};
    RELGEO_ASSIGN_OR_RETURN(float* y, producer.Produce(qb, b));
    if constexpr (Producer::kParallelAccumulate) {
      at::parallel_for(0, g, std::max<int64_t>(1, 4096 / (w.m * b.sb)), [&](int64_t pp0, int64_t pp1) {
        std::vector<float> scratch(static_cast<size_t>(2 * w.m));
        AccumulateLines(w, qb, b, y, producer, lines, pp0, pp1, scratch.data());
      });
    } else {
      AccumulateLines(w, qb, b, y, producer, lines, 0, g, lines.scratch.data());
    }
  }
  FinishLines(plan, w, qb, g0, g, lines, out);
  return Status::OK();
}

// The first failure of a lane team, kept with its code. Nothing may be thrown out of
// an OpenMP region, so lanes record what went wrong here and stop pulling work.
class LaneFailure {
 public:
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void Record(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    if (first_.ok()) first_ = std::move(s);
    failed_ = true;
  }
  // Runs fn, recording what it throws (a Status thrown as StatusError keeps its code).
  template <class F>
  void Catch(F&& fn) {
    try {
      fn();
    } catch (const StatusError& e) {
      Record(e.status());
    } catch (const std::bad_alloc&) {
      Record(Status::Internal("out of memory in an encoder lane"));
    } catch (const std::exception& e) {
      Record(Status::Internal(std::string("encoder lane failed: ") + e.what()));
    }
  }
  void ThrowIfFailed() {
    if (failed()) throw StatusError(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  Status first_;
};

// Called by every thread of a lane team: pulls groups dynamically until the block is
// done (or a lane failed). A lane whose producer or line state could not be made
// (null) has recorded that failure, so it only passes through the loop's barrier.
template <class Producer>
void PullGroups(const EncoderPlan& plan, const WalkShape& w, const QueryBlock& qb, Producer* producer,
                LineState* lines, LaneFailure& failure, Matrix* out) {
  const int64_t pairs = qb.q * w.K, groups = (pairs + w.pair_group - 1) / w.pair_group;
#pragma omp for schedule(dynamic, 1)
  for (int64_t gi = 0; gi < groups; ++gi) {
    if (failure.failed() || !producer || !lines) continue;
    const int64_t g0 = gi * w.pair_group, g = std::min(w.pair_group, pairs - g0);
    failure.Catch([&] {
      Status s = WalkGroup(plan, w, qb, g0, g, *producer, *lines, out);
      if (!s.ok()) failure.Record(std::move(s));
    });
  }
}

// Native plan: `lanes` concurrent batches, each single-threaded end to end (its GEMMs
// included), pulling groups dynamically; OpenMP is the only thread pool in the hot
// loop (docs/design.md §4.4). Every lane owns its producer's buffers and line state.
void WalkBlockInLanes(const EncoderPlan& plan, const WalkShape& w, const QueryBlock& qb, Matrix* out) {
  LaneFailure failure;
#pragma omp parallel num_threads(plan.lanes)
  {
    // A lane whose buffers cannot be allocated records it and still enters the same
    // worksharing loop as the others (OpenMP needs every thread at its barrier).
    std::unique_ptr<LineState> lines;
    std::unique_ptr<SignSplitProducer> split;
    std::unique_ptr<DenseNativeProducer> dense;
    failure.Catch([&] {
      lines = std::make_unique<LineState>(w);
      if (plan.split_on())
        split = std::make_unique<SignSplitProducer>(plan, w);
      else
        dense = std::make_unique<DenseNativeProducer>(plan, w);
    });
    if (plan.split_on())
      PullGroups(plan, w, qb, split.get(), lines.get(), failure, out);
    else
      PullGroups(plan, w, qb, dense.get(), lines.get(), failure, out);
  }
  failure.ThrowIfFailed();
}

// TorchScript rest (or the whole map): one batch at a time, LibTorch's threads inside.
void WalkBlockTorchScript(const EncoderPlan& plan, const WalkShape& w, const QueryBlock& qb, Matrix* out) {
  LineState lines(w);
  TorchScriptProducer producer(plan, w);
  const int64_t pairs = qb.q * w.K, groups = (pairs + w.pair_group - 1) / w.pair_group;
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t g0 = gi * w.pair_group, g = std::min(w.pair_group, pairs - g0);
    ThrowIfError(WalkGroup(plan, w, qb, g0, g, producer, lines, out));
  }
}

}  // namespace

Status WalkLines(const EncoderPlan& plan, MatrixView latents, Matrix* out) {
  const WalkShape w = WalkShape::Of(plan);
  // Failures throw (LibTorch's own, and the walk's as StatusError with their code)
  // and leave as one Status.
  return InTorchScope("encoding", [&] {
    for (int64_t q0 = 0; q0 < latents.rows(); q0 += plan.query_block) {
      const int64_t q = std::min(plan.query_block, latents.rows() - q0);
      const QueryEnds ends = EvaluateQueryEnds(plan, latents.RowSlice(q0, q));
      const QueryBlock qb{q0, q, ends.pre.get(), ends.out.get(), ends.lin.get(), ends.cen.get(), ends.sigma.get()};
      if (plan.native())
        WalkBlockInLanes(plan, w, qb, out);
      else
        WalkBlockTorchScript(plan, w, qb, out);
    }
  });
}

}  // namespace relgeo::internal
