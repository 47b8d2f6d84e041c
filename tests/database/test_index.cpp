// Index kinds behind the database (indexes/): cross-model retrieval on every kind,
// and recall of HNSW and IVF against exact search.
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
#include "relgeo/index.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

TEST(Database, CrossModelOnEveryIndexKind) {
  CrossSetup s;
  for (const std::string spec : {"HNSW16", "IVF4,Flat"}) {
    auto db = OpenOrDie(FreshDir("kinds"));
    ASSERT_TRUE(db);
    s.Register(*db, spec);
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
    auto info = db->GetCollectionInfo("items");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->indexed, s.n);
    if (spec[0] == 'I') EXPECT_TRUE(info->index_trained);  // 200 >= 39 * 4
    SearchParams p;
    p.ef_search = 64;
    p.nprobe = 4;
    auto r = db->Search("items", "B", s.zb, 3, p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0) << spec;
  }
}


// ------------------------------------------------------------------ recall
// Clustered data (like real embeddings): 10k items, 200 queries, K = 64.
TEST(Database, RecallOfHnswAndIvfAgainstFlat) {
  const int64_t n = 10000, nq = 200, K = 64, k = 10;
  std::mt19937_64 rng(3);
  Matrix centres = RandomMatrix(1000, K, 21);
  auto make = [&](int64_t rows, uint64_t seed) {
    Matrix x = RandomMatrix(rows, K, seed, 1.0f);
    std::uniform_int_distribution<int> pick(0, 999);
    std::mt19937_64 r(seed);
    for (int64_t i = 0; i < rows; ++i) {
      const int c = pick(r);
      for (int64_t j = 0; j < K; ++j) x(i, j) += centres(c, j);
    }
    return x;
  };
  Matrix items = make(n, 22), queries = make(nq, 23);
  auto db = OpenOrDie(FreshDir("recall"));
  ASSERT_TRUE(db);
  ASSERT_OK(db->CreateAnchorSet("S", Iota(K)));
  ModelSpec a;
  a.name = "A";
  a.map_bytes = AffineMapBytes(RandomMatrix(3, 2, 1), {0, 0, 0});
  ASSERT_OK(db->RegisterModel(a));
  for (const char* spec : {"Flat", "HNSW32", "IVF256,Flat"}) {
    ASSERT_OK(db->CreateCollection(spec[0] == 'F' ? "flat" : spec[0] == 'H' ? "hnsw" : "ivf", {"S", spec}));
  }
  for (const char* c : {"flat", "hnsw", "ivf"})
    for (int64_t b = 0; b < n; b += 2500)
      ASSERT_OK(db->AddRepresentations(c, "A", Iota(2500, b), items.view().RowSlice(b, 2500)));
  EXPECT_TRUE(db->GetCollectionInfo("ivf")->index_trained);
  auto truth = db->SearchRepresentations("flat", queries, k);
  ASSERT_TRUE(truth.ok());
  auto recall = [&](const std::string& c, SearchParams p) {
    auto r = db->SearchRepresentations(c, queries, k, p);
    EXPECT_TRUE(r.ok());
    int64_t hit = 0;
    for (int64_t q = 0; q < nq; ++q) {
      std::unordered_set<int64_t> t(truth->row_ids(q), truth->row_ids(q) + k);
      for (int64_t j = 0; j < k; ++j) hit += t.count(r->row_ids(q)[j]);
    }
    return static_cast<double>(hit) / (nq * k);
  };
  // Clustered data with 1000 centres in 64-d is hard for IVF256 (lists cut clusters).
  const double h16 = recall("hnsw", {16, 0}), h32 = recall("hnsw", {32, 0}), h64 = recall("hnsw", {64, 0}),
               h128 = recall("hnsw", {128, 0});
  const double i1 = recall("ivf", {0, 1}), i16 = recall("ivf", {0, 16}), i32 = recall("ivf", {0, 32}),
               i64 = recall("ivf", {0, 64}), i128 = recall("ivf", {0, 128});
  std::printf("recall@10 vs Flat (n=%lld, K=%lld, 1000 clusters): HNSW32 ef16 %.3f ef32 %.3f ef64 %.3f ef128 %.3f; "
              "IVF256 nprobe1 %.3f 16 %.3f 32 %.3f 64 %.3f 128 %.3f\n",
              static_cast<long long>(n), static_cast<long long>(K), h16, h32, h64, h128, i1, i16, i32, i64, i128);
  EXPECT_GE(h64, 0.95);
  EXPECT_GE(h128, h16);
  EXPECT_LT(h16, h128);  // efSearch is really applied per call
  EXPECT_GE(i128, 0.95);
  EXPECT_LT(i1, i16);  // nprobe is really applied per call
  // Deletes on HNSW (tombstones, then compaction past 25%): recall stays, removed ids never appear.
  ASSERT_EQ(*db->Remove("hnsw", Iota(3000)), 3000);
  ASSERT_EQ(*db->Remove("flat", Iota(3000)), 3000);
  truth = db->SearchRepresentations("flat", queries, k);
  EXPECT_GE(recall("hnsw", {64, 0}), 0.95);
  auto r = db->SearchRepresentations("hnsw", queries, k, {64, 0});
  for (int64_t id : r->ids) EXPECT_GE(id, 3000);
}

// Index specs are outside text (--index, records, index files); found by
// fuzz/index_spec_fuzzer.cpp and by hand: std::regex recursed once per character
// (100k spaces overflowed the stack), and a PQ m past int made std::stoi throw in
// VectorIndex::Create.
TEST(IndexSpec, HostileTextIsRefusedNotACrash) {
  auto r = IndexSpec::Parse(std::string(200000, ' ') + "Flat");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("too long"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(IndexSpec::Parse(std::string(200, ' ') + "Flat").ok());
  r = IndexSpec::Parse("IVF4,PQ99999999999");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(IndexSpec::Parse("IVF4,PQ0").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(IndexSpec::Parse("IVF4,PQ2000000").status().code(), StatusCode::kInvalidArgument);
  auto pq = IndexSpec::Parse("ivf4, pq0008");
  ASSERT_TRUE(pq.ok()) << pq.status().ToString();
  EXPECT_EQ(pq->ToString(), "IVF4,PQ8");
  auto idx = VectorIndex::Create(*pq, 16);
  EXPECT_TRUE(idx.ok()) << idx.status().ToString();
}

}  // namespace
}  // namespace relgeo
