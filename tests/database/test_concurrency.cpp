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
#include <iostream>
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

// AttachAnchors racing Add: Add encodes under the shared lock and commits under the
// exclusive one, and AttachAnchors may slip in between (the collection holds none of
// the model's items yet, so it is allowed). The commit must then not store what the
// old anchors made: every item must equal an encoding with the anchors that are
// current once both calls are done (new ones if the attach succeeded, the old ones if
// it was refused because the items were already there).
TEST(Database, ConcurrentAttachAnchorsAndAdd) {
  const int64_t K = 12, d = 4, n = 48;
  auto db = OpenOrDie(FreshDir("conc_attach"));
  ASSERT_TRUE(db);
  ModelSpec a;
  a.name = "A";
  a.map_bytes = MlpMapBytes(d, 16, 8, 3);
  ASSERT_OK(db->RegisterModel(a));
  const Matrix old_anchors = RandomMatrix(K, d, 4), new_anchors = RandomMatrix(K, d, 5);
  const Matrix z = RandomMatrix(n, d, 6);
  std::mt19937 rng(7);
  int attached = 0, refused = 0;
  int64_t add_us = 20000;
  // At least 24 trials, and more (up to 96) until attaches have both succeeded and been
  // refused: on a loaded 2-core machine one side can win every race of a short run.
  const int kMinTrials = 24, kMaxTrials = 96;
  for (int t = 0; t < kMaxTrials && (t < kMinTrials || attached == 0 || refused == 0); ++t) {
    const std::string set = "S" + std::to_string(t), coll = "c" + std::to_string(t);
    ASSERT_OK(db->CreateAnchorSet(set, Iota(K)));
    ASSERT_OK(db->AttachAnchors("A", set, old_anchors));
    CollectionOptions co;
    co.anchor_set = set;
    co.steps = 16;
    ASSERT_OK(db->CreateCollection(coll, co));
    // Warms the cache: Add then encodes with the old anchors' encoder straight away.
    ASSERT_TRUE(db->Encode("A", set, z, {16}).ok());
    // The attach lands before, during or after Add: a signed delay between -1 and +2
    // times the last Add's time (which varies a lot: a fresh thread starts its own
    // OpenMP team; TSan). Negative delays hold the adder back instead of the attacher.
    const int64_t span = 3 * add_us + 1;
    const int64_t delay_us = static_cast<int64_t>(rng() % static_cast<uint64_t>(span)) - add_us;
    std::atomic<bool> go{false};
    Status add_status, attach_status;
    std::thread adder([&] {
      while (!go.load()) {}
      if (delay_us < 0) std::this_thread::sleep_for(std::chrono::microseconds(-delay_us));
      const auto a0 = std::chrono::steady_clock::now();
      add_status = db->Add(coll, "A", Iota(n), z);
      add_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - a0).count();
    });
    std::thread attacher([&] {
      while (!go.load()) {}
      if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      attach_status = db->AttachAnchors("A", set, new_anchors);
    });
    go = true;
    adder.join();
    attacher.join();
    ASSERT_OK(add_status);
    if (attach_status.ok()) {
      ++attached;
    } else {
      ASSERT_EQ(attach_status.code(), StatusCode::kFailedPrecondition) << attach_status.ToString();
      ++refused;
    }
    // What the anchors now stored make of z, with the collection's options.
    auto want = db->Encode("A", set, z, {16});
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    for (int64_t id = 0; id < n; ++id) {
      auto item = db->Get(coll, id);
      ASSERT_TRUE(item.ok()) << item.status().ToString();
      ASSERT_EQ(item->representation, std::vector<float>(want->row(id), want->row(id) + K))
          << "trial " << t << " item " << id << (attach_status.ok() ? " (attach succeeded" : " (attach refused")
          << ", delay " << delay_us << " us)";
    }
  }
  std::cout << "attach succeeded " << attached << " times, refused " << refused << " times\n";
  EXPECT_GT(attached, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace relgeo
