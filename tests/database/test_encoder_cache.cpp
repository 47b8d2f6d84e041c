// The database's encoder cache (src/database/encoder_cache.cpp): an Encode call with
// its own EncoderOptions must not lend its encoder to the collection's Add and Search,
// which encode with the collection's stored options only.
#include <gtest/gtest.h>

#include <cstring>

#include "database/db_test_util.h"
#include "relgeo/database.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// Every stored representation, as bytes, for an exact comparison.
std::string StoredReps(Database& db, const std::string& coll, int64_t n) {
  std::string out;
  for (int64_t id = 0; id < n; ++id) {
    auto it = db.Get(coll, id);
    if (!it.ok()) return "missing " + std::to_string(id);
    out.append(reinterpret_cast<const char*>(it->representation.data()), it->representation.size() * sizeof(float));
  }
  return out;
}

TEST(EncoderCache, EncodeWithOtherOptionsDoesNotChangeWhatAddStores) {
  CrossSetup s;
  // Reference: a fresh database that never saw an Encode call.
  auto fresh = OpenOrDie(FreshDir("enc_cache_ref"));
  ASSERT_TRUE(fresh);
  s.Register(*fresh);
  ASSERT_OK(fresh->Add("items", "A", Iota(s.n), s.za));
  const std::string want = StoredReps(*fresh, "items", s.n);
  auto want_search = fresh->Search("items", "B", s.zb.view().RowSlice(0, 20), 5);
  ASSERT_TRUE(want_search.ok()) << want_search.status().ToString();

  // Options that keep steps and mode (the old cache key) but change how, and so the
  // float bits of what, the encoder computes.
  std::vector<EncoderOptions> variants(4);
  variants[0].allow_affine_fast_path = false;
  variants[1].allow_native_mlp = false;
  variants[2].allow_relu_sign_split = false;
  variants[3].precision = EncoderPrecision::kBFloat16;
  variants[3].memory_budget_bytes = 4096;
  variants[3].rows_per_batch = 7;
  int differ = 0;
  for (size_t v = 0; v < variants.size(); ++v) {
    EncoderOptions eo = variants[v];
    eo.steps = 6;  // the collection's steps and mode
    auto db = OpenOrDie(FreshDir("enc_cache"));
    ASSERT_TRUE(db);
    s.Register(*db);
    auto e = db->Encode("A", "S", s.za, eo);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    auto eb = db->Encode("B", "S", s.zb, eo);
    ASSERT_TRUE(eb.ok()) << eb.status().ToString();
    differ += std::memcmp(e->data(), want.data(), want.size()) != 0;
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
    EXPECT_EQ(StoredReps(*db, "items", s.n), want) << "variant " << v;
    auto r = db->Search("items", "B", s.zb.view().RowSlice(0, 20), 5);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->ids, want_search->ids) << "variant " << v;
    EXPECT_EQ(0, std::memcmp(r->scores.data(), want_search->scores.data(), r->scores.size() * sizeof(float)))
        << "variant " << v;
  }
  // The test means something only if some variant's own encoding differs in its bits.
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace relgeo
