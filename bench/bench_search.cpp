// Exact search against the machine's limits, all measured in this run
// (docs/search.md):
//
//  BM_GemmPeak              the float32 GEMM peak (bench/gemm_peak.h)
//  BM_StreamRead            a streaming read over the Flat index's own vector bytes
//                           (100,000 x 256 float32, 102 MB), all threads: the
//                           bandwidth one query's scan cannot beat
//  BM_FaissFlat/<nq>        raw FAISS IndexFlatIP::search, k = 10
//  BM_RelgeoFlat/<nq>       VectorIndex "Flat" Search (relgeo's kernel), k = 10,
//                           with counters: GFLOP/s and its ratio to the peak,
//                           GB/s and its ratio to the streaming read, and the
//                           speed-up over raw FAISS at the same nq
//  BM_RelgeoCompressed/<spec>/<nq>  "Flat,fp16" (0) / "Flat,SQ8" (1): QPS, speed
//                           against float32 Flat, recall@10 against it, bytes/item
//
// Run: build/bench/bench_search --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bench_main.h"
#include "fixtures.h"
#include "gemm_peak.h"
#include "relgeo/index.h"
#include "relgeo/threads.h"

namespace {

using namespace relgeo;
constexpr int64_t kItems = 100000, kDim = 256, kTopK = 10;

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_search: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

Matrix Unit(Matrix m) {
  for (int64_t r = 0; r < m.rows(); ++r) {
    double s = 0;
    for (int64_t c = 0; c < m.cols(); ++c) s += double(m(r, c)) * m(r, c);
    for (int64_t c = 0; c < m.cols(); ++c) m(r, c) = static_cast<float>(m(r, c) / std::sqrt(s));
  }
  return m;
}

struct Data {
  Matrix items = Unit(testing::RandomMatrix(kItems, kDim, 1));
  Matrix queries = Unit(testing::RandomMatrix(1024, kDim, 2));
  std::vector<int64_t> ids;
  faiss::IndexFlatIP faiss{static_cast<int>(kDim)};
  std::unique_ptr<VectorIndex> flat;
  Data() {
    for (int64_t i = 0; i < kItems; ++i) ids.push_back(i);
    faiss.add(kItems, items.data());
    flat = Make("Flat");
  }
  std::unique_ptr<VectorIndex> Make(const std::string& text) const {
    auto spec = IndexSpec::Parse(text);
    Check(spec.status());
    auto index = VectorIndex::Create(*spec, kDim);
    Check(index.status());
    Check((*index)->Add(ids.data(), items));
    return std::move(*index);
  }
};
Data& D() {
  static Data d;
  return d;
}

// Same-run references, filled by the benchmarks that run first.
double g_peak_gflops = 0, g_stream_gbps = 0;
std::map<int64_t, double> g_faiss_seconds;  // per batch, by nq
std::map<int64_t, double> g_flat_seconds;   // relgeo Flat, per batch, by nq

void BM_GemmPeak(benchmark::State& state) {
  for (auto _ : state) g_peak_gflops = bench::Peak();
  state.counters["GFLOPs"] = g_peak_gflops;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) float SumAvx512(const float* p, int64_t n) {
  __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
    b = _mm512_add_ps(b, _mm512_loadu_ps(p + i + 16));
    c = _mm512_add_ps(c, _mm512_loadu_ps(p + i + 32));
    d = _mm512_add_ps(d, _mm512_loadu_ps(p + i + 48));
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
  for (; i < n; ++i) s += p[i];
  return s;
}
#endif
float Sum(const float* p, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512f")) return SumAvx512(p, n);
#endif
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += p[i + j];
  for (; i < n; ++i) s[0] += p[i];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

double TimeIt(benchmark::State& state, const std::function<void()>& run) {
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += s;
    state.SetIterationTime(s);
  }
  return total / std::max<int64_t>(1, state.iterations());
}

// Reads the FAISS vectors (the bytes a one-query scan reads) with every thread.
void BM_StreamRead(benchmark::State& state) {
  const float* x = D().faiss.get_xb();
  const int64_t n = kItems * kDim;
  float sink = 0;
  const double s = TimeIt(state, [&] {
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t b = n * t / T, e = n * (t + 1) / T;
      total += Sum(x + b, e - b);
    }
    sink += total;
  });
  benchmark::DoNotOptimize(sink);
  g_stream_gbps = 4.0 * n / s / 1e9;
  state.counters["GBps"] = g_stream_gbps;
}

void BM_FaissFlat(benchmark::State& state) {
  const int64_t nq = state.range(0);
  std::vector<float> scores(nq * kTopK);
  std::vector<faiss::Index::idx_t> labels(nq * kTopK);
  const double s = TimeIt(state, [&] { D().faiss.search(nq, D().queries.data(), kTopK, scores.data(), labels.data()); });
  g_faiss_seconds[nq] = s;
  state.counters["QPS"] = nq / s;
  state.counters["GFLOPs"] = 2.0 * nq * kItems * kDim / s / 1e9;
}

void Report(benchmark::State& state, int64_t nq, double s) {
  const double flops = 2.0 * nq * kItems * kDim, bytes = 4.0 * kItems * kDim;
  state.counters["QPS"] = nq / s;
  state.counters["GFLOPs"] = flops / s / 1e9;
  if (g_peak_gflops > 0) state.counters["vs_gemm_peak"] = flops / s / 1e9 / g_peak_gflops;
  state.counters["GBps"] = bytes / s / 1e9;
  if (g_stream_gbps > 0) state.counters["vs_stream"] = bytes / s / 1e9 / g_stream_gbps;
  auto f = g_faiss_seconds.find(nq);
  if (f != g_faiss_seconds.end()) state.counters["vs_faiss"] = f->second / s;
}

void BM_RelgeoFlat(benchmark::State& state) {
  const int64_t nq = state.range(0);
  std::vector<float> scores(nq * kTopK);
  std::vector<int64_t> ids(nq * kTopK);
  const MatrixView q = D().queries.view().RowSlice(0, nq);
  const double s = TimeIt(state, [&] { Check(D().flat->Search(q, kTopK, {}, nullptr, ids.data(), scores.data())); });
  g_flat_seconds[nq] = s;
  Report(state, nq, s);
}

// Flat,fp16 and Flat,SQ8: speed against float32 Flat at the same nq, recall@10
// against it on the same queries, and the index's bytes per item.
const char* const kCompressed[] = {"Flat,fp16", "Flat,SQ8"};
void BM_RelgeoCompressed(benchmark::State& state) {
  const std::string text = kCompressed[state.range(0)];
  const int64_t nq = state.range(1);
  static std::map<std::string, std::unique_ptr<VectorIndex>> built;
  auto& index = built[text];
  if (!index) index = D().Make(text);
  std::vector<float> scores(nq * kTopK), exact_scores(nq * kTopK);
  std::vector<int64_t> ids(nq * kTopK), exact(nq * kTopK);
  const MatrixView q = D().queries.view().RowSlice(0, nq);
  Check(D().flat->Search(q, kTopK, {}, nullptr, exact.data(), exact_scores.data()));
  const double s = TimeIt(state, [&] { Check(index->Search(q, kTopK, {}, nullptr, ids.data(), scores.data())); });
  int64_t hit = 0;
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < kTopK; ++j)
      hit += std::count(exact.begin() + i * kTopK, exact.begin() + (i + 1) * kTopK, ids[i * kTopK + j]);
  state.SetLabel(text);
  state.counters["QPS"] = nq / s;
  state.counters["recall10"] = double(hit) / double(nq * kTopK);
  auto f = g_flat_seconds.find(nq);
  if (f != g_flat_seconds.end()) state.counters["vs_flat"] = f->second / s;
  auto bytes = index->Serialize();
  Check(bytes.status());
  state.counters["bytes_per_item"] = double(bytes->size()) / kItems;
}

}  // namespace

BENCHMARK(BM_GemmPeak)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamRead)->MinTime(0.5)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FaissFlat)->Arg(1)->Arg(64)->Arg(1024)->MinTime(1.0)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RelgeoFlat)->Arg(1)->Arg(64)->Arg(1024)->MinTime(1.0)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RelgeoCompressed)
    ->ArgsProduct({{0, 1}, {1, 64, 1024}})
    ->MinTime(1.0)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  std::printf("threads: %d\n", relgeo::bench::ConfigureBenchThreads());
  if (!relgeo::bench::RunBenchmarks(&argc, argv)) return 1;
  benchmark::Shutdown();
  return 0;
}
