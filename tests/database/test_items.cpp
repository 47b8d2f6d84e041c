// Items (src/database/items.cpp): resumable BulkAdd (BulkOptions::resume_key) and
// the batch-size bound.
#include <gtest/gtest.h>

#include "database/db_test_util.h"
#include "relgeo/database.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// A BatchSource over rows of `m` starting at *pos (ids = row numbers), counting the
// rows it hands out.
BatchSource RowsOf(const Matrix& m, int64_t* pos, int64_t* handed) {
  return [&m, pos, handed](int64_t max_rows, std::vector<int64_t>* ids, Matrix* out) -> Result<int64_t> {
    const int64_t n = std::min(max_rows, m.rows() - *pos);
    if (n <= 0) return int64_t{0};
    *out = Matrix::CopyOf(m.view().RowSlice(*pos, n));
    ids->resize(n);
    for (int64_t i = 0; i < n; ++i) (*ids)[i] = *pos + i;
    *pos += n;
    *handed += n;
    return n;
  };
}

// Stopped after 3 batches (as a crash would, after their commits), a BulkAdd with
// the same resume_key skips exactly those rows (by skip_rows, or by reading and
// discarding them), reports them, and ends with the items of one uninterrupted call.
TEST(BulkResume, SkipsWhatAnInterruptedCallCommitted) {
  for (bool with_skip : {true, false}) {
    CrossSetup s;
    auto db = OpenOrDie(FreshDir("resume_lib"));
    ASSERT_TRUE(db);
    s.Register(*db, "Flat", "items");
    ASSERT_OK(db->CreateCollection("whole", CrossSetup::Options()));
    ASSERT_TRUE(db->BulkAdd("whole", "A", {}, s.za).ok());

    int64_t pos = 0, handed = 0;
    BulkOptions o;
    o.batch_size = 16;
    o.resume_key = "input-1";
    o.progress = [](const BulkProgress& p) { return p.batches < 3; };
    auto first = db->BulkAdd("items", "A", RowsOf(s.za, &pos, &handed), o);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(first->items, 48);
    EXPECT_EQ(db->GetCollectionInfo("items")->items, 48);

    // The re-run, with another batch size: rows are counted, not batches.
    pos = 0;
    handed = 0;
    o.batch_size = 10;
    o.progress = nullptr;
    if (with_skip) o.skip_rows = [&pos](int64_t rows) {
      pos = rows;
      return Status::OK();
    };
    auto second = db->BulkAdd("items", "A", RowsOf(s.za, &pos, &handed), o);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->skipped_items, 48);
    EXPECT_EQ(second->skipped_batches, 3);
    EXPECT_EQ(second->items, s.n - 48);
    EXPECT_EQ(handed, with_skip ? s.n - 48 : s.n);
    ASSERT_EQ(db->GetCollectionInfo("items")->items, s.n);
    for (int64_t id = 0; id < s.n; ++id) {
      auto a = db->Get("items", id), b = db->Get("whole", id);
      ASSERT_TRUE(a.ok() && b.ok()) << id;
      ASSERT_EQ(a->representation.size(), b->representation.size());
      for (size_t k = 0; k < a->representation.size(); ++k)
        ASSERT_NEAR(a->representation[k], b->representation[k], 1e-5f) << id;
    }
    // Finished: the record is gone, a third call starts over.
    pos = 0;
    handed = 0;
    auto third = db->BulkAdd("items", "A", RowsOf(s.za, &pos, &handed), o);
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->skipped_items, 0);
    EXPECT_EQ(third->items, s.n);
  }
}

// The record belongs to its collection: dropping and recreating it starts afresh;
// another key is another input.
TEST(BulkResume, RecordsArePerCollectionAndKey) {
  CrossSetup s;
  auto db = OpenOrDie(FreshDir("resume_keys"));
  ASSERT_TRUE(db);
  s.Register(*db, "Flat", "items");
  int64_t pos = 0, handed = 0;
  BulkOptions o;
  o.batch_size = 20;
  o.resume_key = "k";
  o.progress = [](const BulkProgress& p) { return p.batches < 2; };
  ASSERT_TRUE(db->BulkAdd("items", "A", RowsOf(s.za, &pos, &handed), o).ok());
  o.progress = nullptr;
  o.resume_key = "other";
  pos = handed = 0;
  auto other = db->BulkAdd("items", "A", RowsOf(s.za, &pos, &handed), o);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->skipped_items, 0);
  ASSERT_OK(db->DropCollection("items"));
  CollectionOptions co;
  co.anchor_set = "S";
  ASSERT_OK(db->CreateCollection("items", co));
  o.resume_key = "k";
  pos = handed = 0;
  auto fresh = db->BulkAdd("items", "A", RowsOf(s.za, &pos, &handed), o);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->skipped_items, 0);
  EXPECT_EQ(fresh->items, s.n);
}

TEST(BulkResume, BatchSizeAndKeyAreBounded) {
  CrossSetup s;
  auto db = OpenOrDie(FreshDir("resume_bounds"));
  ASSERT_TRUE(db);
  s.Register(*db, "Flat", "items");
  BulkOptions o;
  for (int64_t b : {int64_t{0}, int64_t{-1}, kMaxBulkBatch + 1}) {
    o.batch_size = b;
    EXPECT_EQ(db->BulkAdd("items", "A", {}, s.za, o).status().code(), StatusCode::kInvalidArgument) << b;
  }
  o.batch_size = 16;
  o.resume_key = std::string(kMaxResumeKeyBytes + 1, 'x');
  EXPECT_EQ(db->BulkAdd("items", "A", {}, s.za, o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace relgeo
