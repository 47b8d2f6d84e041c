// Database benchmarks.
//
//  BM_BulkIndex/<map>/<index>   BulkAdd items/s, with the time split into encoding
//                               (RelativeEncoder), RocksDB (WriteBatch build + write)
//                               and FAISS (adds, training, final save) as counters.
//  BM_Search/<index>/<batch>    SearchRepresentations QPS at 100k items, K = 256,
//                               alternating with raw FAISS on the same normalised
//                               vectors with the same parameters (efSearch 64,
//                               nprobe 16): the ratio of the two is relgeo's
//                               overhead (normalisation, locking, id mapping, copies).
//  BM_SearchLatents/<batch>     Search from latents (encoding included), Flat, 100k.
//
// Run: build/bench/bench_database --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>

#include <chrono>
#include <cmath>
#include <map>
#include <filesystem>
#include <random>
#include <sstream>

#include <unistd.h>

#include "bench_main.h"
#include "fixtures.h"
#include "relgeo/database.h"
#include "relgeo/threads.h"

namespace {

using namespace relgeo;
using relgeo::testing::MlpMapBytes;
using relgeo::testing::RandomMatrix;
constexpr int64_t kItems = 100000, kK = 256, kD = 16;

// Clustered vectors (1000 centres): closer to real representations than iid noise.
Matrix Clustered(int64_t rows, uint64_t seed) {
  static const Matrix centres = RandomMatrix(1000, kK, 99);
  Matrix x = RandomMatrix(rows, kK, seed, 0.8f);
  std::mt19937_64 rng(seed + 1);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t c = rng() % 1000;
    for (int64_t j = 0; j < kK; ++j) x(i, j) += centres(c, j);
  }
  return x;
}

std::string BenchDir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("relgeo_bench_db_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(p);
  return p.string();
}

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_database: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

std::unique_ptr<Database> OpenDb(const std::string& dir) {
  auto r = Database::Open(dir);
  Check(r.status().ok() ? Status::OK() : r.status());
  return std::move(r).value();
}

// ------------------------------------------------------------------ bulk indexing
// map 0: small head 16 -> 64 -> 32; map 1: decoder-like 16 -> 128 -> 784 (Fashion-MNIST pixels).
void BM_BulkIndex(benchmark::State& state) {
  const int map_kind = static_cast<int>(state.range(0));
  const bool hnsw = state.range(1) == 1;
  const int64_t n = map_kind == 0 ? 4000 : 1000;
  const std::string dir = BenchDir("bulk");
  auto db = OpenDb(dir);
  Check(db->CreateAnchorSet("S", [] {
    std::vector<int64_t> v(kK);
    for (int64_t i = 0; i < kK; ++i) v[i] = i;
    return v;
  }()));
  ModelSpec spec;
  spec.name = "A";
  spec.map_bytes = map_kind == 0 ? MlpMapBytes(kD, 64, 32, 1) : MlpMapBytes(kD, 128, 784, 1);
  spec.anchor_set = "S";
  spec.anchor_latents = RandomMatrix(kK, kD, 2);
  Check(db->RegisterModel(spec));
  Matrix latents = RandomMatrix(n, kD, 3);
  BulkStats total;
  int round = 0;
  for (auto _ : state) {
    const std::string coll = "c" + std::to_string(round++);
    Check(db->CreateCollection(coll, {"S", hnsw ? "HNSW32" : "Flat", 8}));
    BulkOptions o;
    o.batch_size = 1000;
    auto st = db->BulkAdd(coll, "A", {}, latents, o);
    Check(st.status());
    total.items += st->items;
    total.encode_seconds += st->encode_seconds;
    total.store_seconds += st->store_seconds;
    total.index_seconds += st->index_seconds;
    total.total_seconds += st->total_seconds;
  }
  state.counters["items/s"] = total.items / total.total_seconds;
  state.counters["encode%"] = 100 * total.encode_seconds / total.total_seconds;
  state.counters["rocksdb%"] = 100 * total.store_seconds / total.total_seconds;
  state.counters["faiss%"] = 100 * total.index_seconds / total.total_seconds;
  state.counters["rocksdb_us/item"] = 1e6 * total.store_seconds / total.items;
  state.counters["faiss_us/item"] = 1e6 * total.index_seconds / total.items;
  state.SetItemsProcessed(total.items);
  state.SetLabel(std::string(map_kind == 0 ? "map 16-64-32" : "map 16-128-784") + ", K=256, N=8, " +
                 (hnsw ? "HNSW32" : "Flat"));
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BulkIndex)->Args({0, 0})->Args({0, 1})->Args({1, 0})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// ------------------------------------------------------------------ search
struct SearchFixture {
  std::string dir;
  std::unique_ptr<Database> db;
  Matrix items, queries, normalized_items, normalized_queries;
  std::unique_ptr<faiss::IndexFlatIP> flat;
  std::unique_ptr<faiss::IndexHNSWFlat> hnsw;
  std::unique_ptr<faiss::IndexFlatIP> quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> ivf;
  Matrix latent_queries;

  static Matrix Normalize(const Matrix& m) {
    Matrix out = m;
    for (int64_t r = 0; r < out.rows(); ++r) {
      double s = 0;
      for (int64_t c = 0; c < out.cols(); ++c) s += double(out(r, c)) * out(r, c);
      const float inv = static_cast<float>(1 / std::sqrt(s));
      for (int64_t c = 0; c < out.cols(); ++c) out(r, c) *= inv;
    }
    return out;
  }

  SearchFixture() {
    items = Clustered(kItems, 10);
    queries = Clustered(1000, 11);
    normalized_items = Normalize(items);
    normalized_queries = Normalize(queries);
    dir = BenchDir("search");
    db = OpenDb(dir);
    std::vector<int64_t> anchor_ids(kK);
    for (int64_t i = 0; i < kK; ++i) anchor_ids[i] = i;
    Check(db->CreateAnchorSet("S", anchor_ids));
    ModelSpec spec;
    spec.name = "A";
    spec.map_bytes = MlpMapBytes(kD, 64, 32, 1);
    spec.anchor_set = "S";
    spec.anchor_latents = RandomMatrix(kK, kD, 2);
    Check(db->RegisterModel(spec));
    for (const char* s : {"Flat", "HNSW32", "IVF256,Flat"}) Check(db->CreateCollection(s[0] == 'F' ? "flat" : s[0] == 'H' ? "hnsw" : "ivf", {"S", s}));
    std::vector<int64_t> ids(10000);
    for (int64_t b = 0; b < kItems; b += 10000) {
      for (int64_t i = 0; i < 10000; ++i) ids[i] = b + i;
      for (const char* c : {"flat", "hnsw", "ivf"})
        Check(db->AddRepresentations(c, "A", ids, items.view().RowSlice(b, 10000)));
    }
    flat = std::make_unique<faiss::IndexFlatIP>(kK);
    flat->add(kItems, normalized_items.data());
    hnsw = std::make_unique<faiss::IndexHNSWFlat>(kK, 32, faiss::METRIC_INNER_PRODUCT);
    hnsw->hnsw.efConstruction = IndexSpec{}.ef_construction;  // relgeo's default: identical graphs
    // Same insertion batches as the database (10 x 10k): with one thread the graphs are
    // identical, so the ratio measures relgeo's overhead, not a different graph.
    for (int64_t b = 0; b < kItems; b += 10000) hnsw->add(10000, normalized_items.row(b));
    hnsw->hnsw.efSearch = 64;
    quantizer = std::make_unique<faiss::IndexFlatIP>(kK);
    ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), kK, 256, faiss::METRIC_INNER_PRODUCT);
    // relgeo trains at 39 * nlist vectors: the first 9984 items (inserted order).
    ivf->train(39 * 256, normalized_items.data());
    ivf->add(kItems, normalized_items.data());
    ivf->nprobe = 16;
    latent_queries = RandomMatrix(1000, kD, 12);
  }
  ~SearchFixture() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

SearchFixture& Fixture() {
  static SearchFixture* f = new SearchFixture();  // built once, shared by the search benchmarks
  return *f;
}

const char* kColl[] = {"flat", "hnsw", "ivf"};
std::map<std::string, double>& Qps() {  // last measured QPS per (kind, batch), for the ratio table
  static std::map<std::string, double> m;
  return m;
}
using Clock = std::chrono::steady_clock;

// relgeo and raw FAISS alternate inside one loop (same queries, back to back), so
// load drift on a shared machine hits both alike; the ratio is relgeo QPS / raw QPS.
void BM_Search(benchmark::State& state) {
  auto& f = Fixture();
  const int kind = static_cast<int>(state.range(0));
  const int64_t batch = state.range(1);
  const faiss::Index* idx = kind == 0 ? static_cast<const faiss::Index*>(f.flat.get())
                            : kind == 1 ? static_cast<const faiss::Index*>(f.hnsw.get())
                                        : static_cast<const faiss::Index*>(f.ivf.get());
  std::vector<float> d(batch * 10);
  std::vector<faiss::Index::idx_t> l(batch * 10);
  int64_t q0 = 0, done = 0;
  double ours = 0, raw = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    auto r = f.db->SearchRepresentations(kColl[kind], f.queries.view().RowSlice(q0, batch), 10);
    const auto t1 = Clock::now();
    idx->search(batch, f.normalized_queries.row(q0), 10, d.data(), l.data());
    const auto t2 = Clock::now();
    Check(r.status());
    benchmark::DoNotOptimize(r->ids.data());
    benchmark::DoNotOptimize(l.data());
    ours += std::chrono::duration<double>(t1 - t0).count();
    raw += std::chrono::duration<double>(t2 - t1).count();
    q0 = (q0 + batch) % (1000 - batch + 1);
    done += batch;
  }
  state.counters["relgeo_QPS"] = done / ours;
  state.counters["raw_QPS"] = done / raw;
  state.counters["ratio"] = raw / ours;
  const std::string key = std::string(kColl[kind]) + "/" + std::to_string(batch);
  Qps()["relgeo/" + key] = done / ours;
  Qps()["raw/" + key] = done / raw;
  state.SetLabel(std::string(kColl[kind]) + ", 100k items, K=256, k=10, vs raw FAISS");
}

void BM_SearchLatents(benchmark::State& state) {
  auto& f = Fixture();
  const int64_t batch = state.range(0);
  int64_t q0 = 0, done = 0;
  for (auto _ : state) {
    auto r = f.db->Search("flat", "A", f.latent_queries.view().RowSlice(q0, batch), 10);
    Check(r.status());
    q0 = (q0 + batch) % (1000 - batch + 1);
    done += batch;
  }
  state.counters["QPS"] = benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  state.SetLabel("flat, queries encoded with map 16-64-32, K=256, N=8");
}

#define SEARCH_ARGS ->Args({0, 1})->Args({0, 64})->Args({1, 1})->Args({1, 64})->Args({2, 1})->Args({2, 64})->MinTime(1.0)->UseRealTime()
BENCHMARK(BM_Search) SEARCH_ARGS;
BENCHMARK(BM_SearchLatents)->Arg(1)->Arg(64)->MinTime(0.5)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  std::printf("threads: %d\n", relgeo::bench::ConfigureBenchThreads());
  if (!relgeo::bench::RunBenchmarks(&argc, argv)) return 1;
  if (!Qps().empty()) {
    std::printf("\nsearch QPS, 100k items, K=256, k=10 (same run)\n%-6s %6s %12s %12s %8s\n", "index", "batch", "relgeo",
                "raw FAISS", "ratio");
    for (const char* c : kColl)
      for (int b : {1, 64}) {
        const std::string key = std::string(c) + "/" + std::to_string(b);
        auto ours = Qps().find("relgeo/" + key), raw = Qps().find("raw/" + key);
        if (ours == Qps().end() || raw == Qps().end()) continue;
        std::printf("%-6s %6d %12.0f %12.0f %8.3f\n", c, b, ours->second, raw->second, ours->second / raw->second);
      }
  }
  benchmark::Shutdown();
  return 0;
}
