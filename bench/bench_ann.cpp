// Approximate search: recall@10 against QPS for relgeo's HNSW and IVF indexes,
// raw FAISS with the same parameters, and hnswlib (Debian's libhnswlib-dev), on the
// same clustered 100,000 x 256 unit vectors (docs/search.md).
//
//  BM_Ann/<engine>/<param>  1,000 queries per iteration, k = 10, all threads;
//                           counters QPS and recall10 (against relgeo's exact Flat)
//     engine 0 relgeo HNSW32   1 FAISS IndexHNSWFlat M=32   2 hnswlib M=32
//            (param: efSearch; one efConstruction for all three, default 80 = IndexSpec's)
//     engine 3 relgeo IVF512,Flat   4 FAISS IndexIVFFlat nlist 512 (param: nprobe)
//
// At the end a table of the curves and, per engine, the QPS at recall 0.95
// interpolated between the two points around it.
// Run: build/bench/bench_ann --benchmark_counters_tabular=true
//      RELGEO_ANN_ITEMS=20000 build/bench/bench_ann     (a smaller collection)
//      RELGEO_ANN_EFC=40 build/bench/bench_ann          (all three graphs built with efConstruction 40)
#include <benchmark/benchmark.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench_main.h"
#include "fixtures.h"
#include "relgeo/index.h"
#include "relgeo/threads.h"

namespace {

using namespace relgeo;
constexpr int64_t kDim = 256, kTopK = 10, kQueries = 1000, kNlist = 512, kM = 32;
// RELGEO_ANN_EFC: efConstruction of all three HNSW builds (equal graph parameters).
int EfConstruction() {
  const char* e = std::getenv("RELGEO_ANN_EFC");
  return e ? std::max(8, std::atoi(e)) : IndexSpec{}.ef_construction;
}
const char* const kEngines[] = {"relgeo HNSW32", "FAISS HNSW32", "hnswlib M32", "relgeo IVF512", "FAISS IVF512"};

int64_t Items() {
  const char* e = std::getenv("RELGEO_ANN_ITEMS");
  return e ? std::max<int64_t>(1000, std::atoll(e)) : 100000;
}

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_ann: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

Matrix Clustered(int64_t rows, uint64_t seed) { return testing::ClusteredRows(rows, kDim, seed, true); }

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Data {
  int64_t n = Items();
  Matrix items = Clustered(n, 1), queries = Clustered(kQueries, 2);
  std::vector<int64_t> ids, truth;
  std::map<int, double> build_seconds;
  Data() {
    for (int64_t i = 0; i < n; ++i) ids.push_back(i);
    auto flat = Make("Flat");
    std::vector<float> s(kQueries * kTopK);
    truth.resize(kQueries * kTopK);
    Check(flat->Search(queries, kTopK, {}, nullptr, truth.data(), s.data()));
  }
  std::unique_ptr<VectorIndex> Make(const std::string& text) {
    auto spec = IndexSpec::Parse(text);
    Check(spec.status());
    auto index = VectorIndex::Create(*spec, kDim);
    Check(index.status());
    Check((*index)->Add(ids.data(), items));
    return std::move(*index);
  }
  double Recall(const std::vector<int64_t>& got) const {
    int64_t hit = 0;
    for (int64_t i = 0; i < kQueries; ++i) {
      const std::set<int64_t> want(truth.begin() + i * kTopK, truth.begin() + (i + 1) * kTopK);
      for (int64_t j = 0; j < kTopK; ++j) hit += want.count(got[i * kTopK + j]);
    }
    return double(hit) / double(kQueries * kTopK);
  }
};
Data& D() {
  static Data d;
  return d;
}

// The five engines, built on first use (build time recorded).
struct Engines {
  std::unique_ptr<VectorIndex> relgeo_hnsw, relgeo_ivf;
  std::unique_ptr<faiss::IndexHNSWFlat> faiss_hnsw;
  std::unique_ptr<faiss::IndexFlatIP> quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> faiss_ivf;
  hnswlib::InnerProductSpace space{static_cast<size_t>(kDim)};
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnswlib;

  void Build(int engine) {
    Data& d = D();
    const auto t0 = std::chrono::steady_clock::now();
    switch (engine) {
      case 0: {
        auto spec = IndexSpec::Parse("HNSW" + std::to_string(kM));
        Check(spec.status());
        spec->ef_construction = EfConstruction();
        auto index = VectorIndex::Create(*spec, kDim);
        Check(index.status());
        Check((*index)->Add(d.ids.data(), d.items));
        relgeo_hnsw = std::move(*index);
        break;
      }
      case 1:
        faiss_hnsw = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(kDim), kM, faiss::METRIC_INNER_PRODUCT);
        faiss_hnsw->hnsw.efConstruction = EfConstruction();
        faiss_hnsw->add(d.n, d.items.data());
        break;
      case 2: {
        hnswlib = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, d.n, kM, EfConstruction());
        hnswlib->addPoint(d.items.row(0), 0);  // the entry point first, then all threads
#pragma omp parallel for schedule(dynamic, 64)
        for (int64_t i = 1; i < d.n; ++i) hnswlib->addPoint(d.items.row(i), static_cast<size_t>(i));
        break;
      }
      case 3: relgeo_ivf = d.Make("IVF" + std::to_string(kNlist) + ",Flat"); break;
      case 4: {
        // Trained on the same strided sample relgeo uses (256 points per list).
        quantizer = std::make_unique<faiss::IndexFlatIP>(static_cast<int>(kDim));
        faiss_ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), kDim, kNlist, faiss::METRIC_INNER_PRODUCT);
        const int64_t m = std::min<int64_t>(d.n, 256 * kNlist);
        std::vector<float> sample(m * kDim);
        for (int64_t i = 0; i < m; ++i) std::copy_n(d.items.row(i * d.n / m), kDim, sample.data() + i * kDim);
        faiss_ivf->train(m, sample.data());
        faiss_ivf->add(d.n, d.items.data());
        break;
      }
    }
    d.build_seconds[engine] = Seconds(t0);
  }
  bool Built(int engine) const {
    switch (engine) {
      case 0: return relgeo_hnsw != nullptr;
      case 1: return faiss_hnsw != nullptr;
      case 2: return hnswlib != nullptr;
      case 3: return relgeo_ivf != nullptr;
      default: return faiss_ivf != nullptr;
    }
  }

  void Search(int engine, int param, std::vector<int64_t>* ids) {
    const Data& d = D();
    std::vector<float> s(kQueries * kTopK);
    IndexSearchParams p;
    switch (engine) {
      case 0:
        p.ef_search = param;
        Check(relgeo_hnsw->Search(d.queries, kTopK, p, nullptr, ids->data(), s.data()));
        break;
      case 1: {
        faiss::SearchParametersHNSW sp;
        sp.efSearch = param;
        faiss_hnsw->hnsw.efSearch = param;  // FAISS 1.7.3 sizes its heap from the member
        faiss_hnsw->search(kQueries, d.queries.data(), kTopK, s.data(), ids->data(), &sp);
        break;
      }
      case 2:
        hnswlib->setEf(static_cast<size_t>(std::max<int64_t>(param, kTopK)));
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t i = 0; i < kQueries; ++i) {
          auto top = hnswlib->searchKnn(d.queries.row(i), kTopK);
          for (int64_t j = static_cast<int64_t>(top.size()) - 1; j >= 0; --j) {
            (*ids)[i * kTopK + j] = static_cast<int64_t>(top.top().second);
            top.pop();
          }
        }
        break;
      case 3:
        p.nprobe = param;
        Check(relgeo_ivf->Search(d.queries, kTopK, p, nullptr, ids->data(), s.data()));
        break;
      case 4: {
        faiss::SearchParametersIVF sp;
        sp.nprobe = static_cast<size_t>(param);
        faiss_ivf->search(kQueries, d.queries.data(), kTopK, s.data(), ids->data(), &sp);
        break;
      }
    }
  }
};
Engines& E() {
  static Engines e;
  return e;
}

struct Point {
  double recall, qps;
};
std::map<int, std::map<int, Point>> g_curves;  // engine -> param -> the last run's point

void BM_Ann(benchmark::State& state) {
  const int engine = static_cast<int>(state.range(0)), param = static_cast<int>(state.range(1));
  if (!E().Built(engine)) E().Build(engine);
  std::vector<int64_t> ids(kQueries * kTopK, -1);
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    E().Search(engine, param, &ids);
    const double s = Seconds(t0);
    total += s;
    state.SetIterationTime(s);
  }
  const Point pt{D().Recall(ids), kQueries * state.iterations() / total};
  g_curves[engine][param] = pt;
  state.SetLabel(kEngines[engine]);
  state.counters["QPS"] = pt.qps;
  state.counters["recall10"] = pt.recall;
  state.counters["build_s"] = D().build_seconds[engine];
}

// QPS where the curve crosses `target` recall (linear between the two points
// around it); 0 when no point reaches it.
double QpsAt(const std::map<int, Point>& by_param, double target) {
  std::vector<Point> curve;
  for (const auto& [param, pt] : by_param) curve.push_back(pt);
  for (size_t i = 0; i < curve.size(); ++i) {
    if (curve[i].recall < target) continue;
    if (i == 0) return curve[0].qps;
    const Point a = curve[i - 1], b = curve[i];
    const double t = (target - a.recall) / std::max(1e-9, b.recall - a.recall);
    return a.qps + t * (b.qps - a.qps);
  }
  return 0;
}

}  // namespace

BENCHMARK(BM_Ann)
    ->ArgsProduct({{0, 1, 2}, {10, 12, 16, 24, 32, 64, 128, 256}})
    ->ArgsProduct({{3, 4}, {4, 8, 16, 32, 64}})
    ->MinTime(0.5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  const int threads = relgeo::bench::ConfigureBenchThreads();
  std::printf("threads: %d, items: %lld\n", threads, static_cast<long long>(Items()));
  if (!relgeo::bench::RunBenchmarks(&argc, argv)) return 1;
  std::printf("\n%-15s %8s %10s %10s\n", "engine", "param", "recall@10", "QPS");
  for (const auto& [engine, curve] : g_curves)
    for (const auto& [param, pt] : curve) std::printf("%-15s %8d %10.4f %10.0f\n", kEngines[engine], param, pt.recall, pt.qps);
  std::printf("\n%-15s %10s %14s\n", "engine", "build s", "QPS@recall0.95");
  for (const auto& [engine, curve] : g_curves)
    std::printf("%-15s %10.1f %14.0f\n", kEngines[engine], D().build_seconds[engine], QpsAt(curve, 0.95));
  benchmark::Shutdown();
  return 0;
}
