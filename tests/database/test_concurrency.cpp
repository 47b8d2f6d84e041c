// Concurrency: searches (which encode through LibTorch) running while one writer
// adds and removes; run under ThreadSanitizer by tools/tsan_check.sh.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "database/db_test_util.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ concurrency
// Readers search while one writer adds and removes batches. Each batch b holds
// kBatch ids that all share one representation v_b, so a reader querying v_b must
// see either the whole batch or none of it (no torn batch), and results must be
// well formed (sorted scores, unique ids).
TEST(Database, ConcurrentSearchesWhileOneWrites) {
  const int64_t K = 16, kBatch = 8, kBatches = 60;
  auto db = OpenOrDie(FreshDir("conc"));
  ASSERT_TRUE(db);
  ASSERT_OK(db->CreateAnchorSet("S", Iota(K)));
  ModelSpec a;
  a.name = "A";
  a.map_bytes = MlpMapBytes(4, 8, 6, 3);
  a.anchor_set = "S";
  a.anchor_latents = RandomMatrix(K, 4, 4);
  ASSERT_OK(db->RegisterModel(a));
  for (const char* spec : {"Flat", "HNSW16"}) {
    const std::string coll = spec[0] == 'F' ? "flat" : "hnsw";
    ASSERT_OK(db->CreateCollection(coll, {"S", spec}));
    Matrix v = RandomMatrix(kBatches, K, 5);
    for (int64_t i = 0; i < v.size(); ++i) v.data()[i] = std::fabs(v.data()[i]) + 0.05f;  // distinct directions
    std::atomic<bool> done{false};
    std::atomic<int64_t> searches{0}, failures{0};
    auto reader = [&](int seed) {
      std::mt19937 rng(seed);
      Matrix lat = RandomMatrix(2, 4, seed);
      while (!done.load()) {
        const int64_t b = rng() % kBatches;
        // Readers use different efSearch values, exercising the HNSW ef lock too.
        auto r = db->SearchRepresentations(coll, v.view().RowSlice(b, 1), kBatch, {16 + 24 * seed, 0});
        if (!r.ok()) { ++failures; continue; }
        int64_t in_batch = 0;
        std::set<int64_t> seen;
        for (int64_t j = 0; j < kBatch; ++j) {
          const int64_t id = r->ids[j];
          if (id >= 0 && !seen.insert(id).second) ++failures;
          if (j > 0 && r->scores[j] > r->scores[j - 1] + 1e-6f) ++failures;
          if (id >= b * kBatch && id < (b + 1) * kBatch) ++in_batch;
        }
        if (in_batch != 0 && in_batch != kBatch) ++failures;
        if (rng() % 4 == 0) {  // also encode queries through LibTorch in reader threads
          auto e = db->Search(coll, "A", lat, 3);
          if (!e.ok()) ++failures;
        }
        ++searches;
      }
    };
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) readers.emplace_back(reader, t + 1);
    std::mt19937 wrng(9);
    for (int64_t b = 0; b < kBatches; ++b) {
      Matrix rows(kBatch, K);
      for (int64_t i = 0; i < kBatch; ++i) std::copy(v.row(b), v.row(b) + K, rows.row(i));
      // Let the readers run between writes (bounded wait), so they really interleave.
      const int64_t seen = searches.load();
      for (int spin = 0; spin < 1000 && searches.load() < seen + 2; ++spin)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      ASSERT_OK(db->AddRepresentations(coll, "A", Iota(kBatch, b * kBatch), rows));
      if (b % 5 == 4) {  // remove an earlier batch whole
        const int64_t old = wrng() % b;
        ASSERT_TRUE(db->Remove(coll, Iota(kBatch, old * kBatch)).ok());
      }
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(failures.load(), 0) << spec;
    EXPECT_GT(searches.load(), 2 * kBatches) << spec;
  }
}

}  // namespace
}  // namespace relgeo
