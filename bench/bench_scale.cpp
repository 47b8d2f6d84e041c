// Scale figures for every index kind (docs/search.md): build time, index bytes,
// reopen time (Deserialize, against rebuilding) and search time at 10^5 and 10^6
// items of K = 256 synthetic clustered representations (k = 10, HNSW efSearch 64,
// IVF nprobe 16: the defaults).
//
//  BM_Scale/<kind>/<log10 n>   timed: a batch of 64 queries; counters build_s,
//                              reopen_s, index_MB, ms_1q (one query at a time, mean
//                              of 16), ms_per_q64 (per query in the batch of 64)
//
// RELGEO_SCALE_MAX=7 adds 10^7 for the compressed Flat kinds (Flat,SQ8: 2.6 GB of
// codes, Flat,fp16: 5.1 GB; float32 Flat and IVF at 10^7 would be 10 GB plus its
// serialised copy, with the vector's growth on top: more than a 23 GB machine holds).
// HNSW at 10^6 is left out unless RELGEO_SCALE_HNSW=6 (its build takes minutes).
// RELGEO_SCALE_OUT=DIR writes DIR/search_scale.csv and DIR/search_scale.png.
// Run: build/bench/bench_scale --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_main.h"
#include "fixtures.h"
#include "relgeo/index.h"
#include "relgeo/plot.h"
#include "relgeo/threads.h"

namespace {

using namespace relgeo;
constexpr int64_t kDim = 256, kTopK = 10, kChunk = 100000;
const char* const kKinds[] = {"Flat", "Flat,fp16", "Flat,SQ8", "HNSW32", "IVF1024,Flat"};

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_scale: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

int EnvInt(const char* name, int fallback) {
  const char* e = std::getenv(name);
  return e ? std::atoi(e) : fallback;
}

Matrix Clustered(int64_t rows, uint64_t seed) { return testing::ClusteredRows(rows, kDim, seed, false); }

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Row {
  std::string kind;
  int64_t n = 0;
  double build_s = 0, reopen_s = 0, index_mb = 0, ms_1q = 0, ms_per_q64 = 0;
};
std::vector<Row> g_rows;

void BM_Scale(benchmark::State& state) {
  const std::string kind = kKinds[state.range(0)];
  const int64_t n = static_cast<int64_t>(std::llround(std::pow(10.0, double(state.range(1)))));
  auto spec = IndexSpec::Parse(kind);
  Check(spec.status());
  auto made = VectorIndex::Create(*spec, kDim);
  Check(made.status());
  std::unique_ptr<VectorIndex> index = std::move(*made);
  Row row{kind, n};
  for (int64_t b = 0; b < n; b += kChunk) {  // build_s: the Add calls only, not making the data
    const int64_t m = std::min(kChunk, n - b);
    const Matrix x = Clustered(m, 1000 + b / kChunk);
    std::vector<int64_t> ids(m);
    for (int64_t i = 0; i < m; ++i) ids[i] = b + i;
    const auto t = std::chrono::steady_clock::now();
    Check(index->Add(ids.data(), x));
    row.build_s += Since(t);
  }
  auto t0 = std::chrono::steady_clock::now();
  {
    auto bytes = index->Serialize();
    Check(bytes.status());
    row.index_mb = double(bytes->size()) / 1e6;
    index.reset();  // two copies at a time (bytes + the reopened index), not three
    t0 = std::chrono::steady_clock::now();
    auto back = VectorIndex::Deserialize(*bytes, kDim, n);
    Check(back.status());
    row.reopen_s = Since(t0);
    index = std::move(*back);  // search the reopened index
  }
  const Matrix q = Clustered(64, 7);
  std::vector<int64_t> ids(64 * kTopK);
  std::vector<float> scores(64 * kTopK);
  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < 16; ++i) Check(index->Search(q.view().RowSlice(i, 1), kTopK, {}, nullptr, ids.data(), scores.data()));
  row.ms_1q = Since(t0) * 1e3 / 16;
  double total = 0;
  for (auto _ : state) {
    const auto t1 = std::chrono::steady_clock::now();
    Check(index->Search(q, kTopK, {}, nullptr, ids.data(), scores.data()));
    const double s = Since(t1);
    total += s;
    state.SetIterationTime(s);
  }
  row.ms_per_q64 = total * 1e3 / 64 / std::max<int64_t>(1, state.iterations());
  g_rows.push_back(row);
  state.SetLabel(kind);
  state.counters["build_s"] = row.build_s;
  state.counters["reopen_s"] = row.reopen_s;
  state.counters["index_MB"] = row.index_mb;
  state.counters["ms_1q"] = row.ms_1q;
  state.counters["ms_per_q64"] = row.ms_per_q64;
}

void Register() {
  const int max_exp = EnvInt("RELGEO_SCALE_MAX", 6), hnsw_max = EnvInt("RELGEO_SCALE_HNSW", 5);
  for (int e = 5; e <= max_exp; ++e)
    for (int k = 0; k < 5; ++k) {
      if (k == 3 && e > hnsw_max) continue;
      if (e >= 7 && k != 1 && k != 2) continue;  // 10^7: compressed Flat kinds only (memory)
      benchmark::RegisterBenchmark("BM_Scale", BM_Scale)
          ->Args({k, e})
          ->Iterations(2)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
}

void WriteOut(const std::string& dir) {
  std::ofstream csv(dir + "/search_scale.csv");
  csv << "kind,n,build_s,reopen_s,index_MB,ms_1q,ms_per_q64\n";
  for (const Row& r : g_rows)
    csv << r.kind << ',' << r.n << ',' << r.build_s << ',' << r.reopen_s << ',' << r.index_mb << ',' << r.ms_1q << ','
        << r.ms_per_q64 << '\n';
  LinePlot p;
  p.title = "search time per query vs items (K = 256, k = 10, batch of 64)";
  p.x_label = "items";
  p.y_label = "log10 ms per query";
  p.log_x = true;
  std::map<std::string, PlotSeries> by_kind;
  for (const Row& r : g_rows) {
    PlotSeries& s = by_kind[r.kind];
    s.name = r.kind;
    s.x.push_back(double(r.n));
    s.y.push_back(std::log10(r.ms_per_q64));
  }
  for (auto& [kind, s] : by_kind) p.series.push_back(s);
  Check(WritePlotPng(dir + "/search_scale.png", p));
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("threads: %d\n", relgeo::bench::ConfigureBenchThreads());
  Register();
  if (!relgeo::bench::RunBenchmarks(&argc, argv)) return 1;
  std::printf("\n%-13s %9s %9s %9s %10s %9s %11s\n", "kind", "items", "build s", "reopen s", "index MB", "ms 1q",
              "ms/q (64)");
  for (const Row& r : g_rows)
    std::printf("%-13s %9lld %9.2f %9.3f %10.1f %9.3f %11.4f\n", r.kind.c_str(), static_cast<long long>(r.n), r.build_s,
                r.reopen_s, r.index_mb, r.ms_1q, r.ms_per_q64);
  if (const char* out = std::getenv("RELGEO_SCALE_OUT")) WriteOut(out);
  benchmark::Shutdown();
  return 0;
}
