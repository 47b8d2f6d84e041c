// The active-interval product (docs/design.md §4.5) against the dense GEMM it replaces,
// on one thread, in the shape of the trained MLP decoder's 512 -> 784 layer: a batch of
// 44 lines x 7 steps (N = 8), inputs with the interval structure a relu leaves along
// lines, at coverages (the fraction of (unit, step) products the intervals hold) from
// about 10% to 100%. Per coverage, the two alternate for at least 0.3 s each on the
// same rows:
//   coverage        measured from the sort
//   useful_GFLOPs   2 x covered multiply-adds / kernel time (sort included)
//   dense_GFLOPs    oneDNN dnnl_sgemm on the same rows (the encoder's dense product)
//   speedup         dense time / kernel time: where it drops under 1 is where the
//                   encoder's kIntervalMaxDensity switches back to the dense GEMM
//   of_gemm_rate    useful_GFLOPs / dense_GFLOPs: how close to the GEMM's speed the
//                   kernel runs on the work it does
//
//   build/bench/bench_intervals [--benchmark_filter=coverage/0.4]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_main.h"
#include "encoder/active_intervals.h"
#include "encoder/encoder_plan.h"
#include "encoder/gemm.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace ri = relgeo::internal;

constexpr int64_t kIn = 512, kOut = 784, kSteps = 7, kLines = 44, kRows = kSteps * kLines;

// Unit k of a line is active with probability `active`, on an interval of `length`
// steps at a random start.
std::vector<float> LineInputs(double active, int length, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(kRows * kIn, 0.0f);
  for (int64_t line = 0; line < kLines; ++line)
    for (int64_t k = 0; k < kIn; ++k) {
      if (u(rng) >= active) continue;
      const int first = static_cast<int>(rng() % (kSteps - length + 1));
      for (int s = first; s < first + length; ++s) x[(line * kSteps + s) * kIn + k] = 0.1f + u(rng);
    }
  return x;
}

// Repeats fn for at least `seconds`; returns seconds per call.
template <typename Fn>
double TimePerCall(Fn&& fn, double seconds) {
  int64_t calls = 0;
  const auto t0 = Clock::now();
  double dt = 0;
  do {
    fn();
    ++calls;
    dt = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (dt < seconds);
  return dt / calls;
}

void BM_Coverage(benchmark::State& st, double active, int length) {
  const ri::IntervalGemmFn fn = ri::IntervalGemmFor(ri::GemmIsa::kBest);
  if (!fn || !ri::OneDnnAvailable()) {
    st.SkipWithError("needs the AVX-512 kernel and oneDNN");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> wt(kIn * kOut), y(kRows * kOut), yd(kRows * kOut);
  for (float& w : wt) w = normal(rng);
  const std::vector<float> x = LineInputs(active, length, 2);
  ri::IntervalScratch s;
  s.Reserve(kLines, kSteps, kIn);
  int64_t work = 0;
  double t_kernel = 1e30, t_dense = 1e30;
  for (auto _ : st) {
    for (int rep = 0; rep < 2; ++rep) {  // alternate, keep the better of each
      // What the encoder runs for one batch (the dense fallback off: max density 1).
      t_kernel = std::min(t_kernel, TimePerCall([&] {
        ri::IntervalBatchProduct(fn, x.data(), kIn, kLines, kSteps, wt.data(), kOut, ri::kSignSplitPanel, 1.0, &s,
                                 y.data(), &work);
      }, 0.15));
      t_dense = std::min(t_dense, TimePerCall([&] {
        ri::OneDnnSgemm('N', 'N', kRows, kOut, kIn, 1.0f, x.data(), kIn, wt.data(), kOut, 0.0f, yd.data(), kOut);
      }, 0.15));
    }
    st.SetIterationTime(t_kernel);
  }
  double worst = 0;
  for (int64_t i = 0; i < kRows * kOut; ++i) worst = std::max(worst, double(std::abs(y[i] - yd[i])));
  const double useful = 2.0 * work * kOut, dense = 2.0 * kRows * kIn * kOut;
  st.counters["coverage"] = double(work) / (kRows * kIn);
  st.counters["useful_GFLOPs"] = useful / t_kernel / 1e9;
  st.counters["dense_GFLOPs"] = dense / t_dense / 1e9;
  st.counters["speedup"] = t_dense / t_kernel;
  st.counters["of_gemm_rate"] = (useful / t_kernel) / (dense / t_dense);
  st.counters["max_abs_diff"] = worst;
}

}  // namespace

int main(int argc, char** argv) {
  relgeo::ConfigureThreads(1);
  // (active fraction, interval length): coverage ~ active x length / 7.
  const std::vector<std::pair<double, int>> cases = {{0.25, 3}, {0.5, 3}, {0.7, 4}, {0.9, 4}, {0.8, 6},
                                                     {0.9, 6},  {1.0, 6}, {1.0, 7}};
  for (const auto& [active, length] : cases) {
    char name[64];
    std::snprintf(name, sizeof(name), "coverage/%.2f", active * length / kSteps);
    benchmark::RegisterBenchmark(name, BM_Coverage, active, length)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  return relgeo::bench::RunBenchmarks(&argc, argv) ? 0 : 1;
}
