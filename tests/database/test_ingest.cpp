// Distributed bulk indexing (src/database/ingest.cpp): item files written without a
// database, ingested by the driver in one atomic step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "database/db_test_util.h"
#include "relgeo/database.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// Rows [from, from + n) of m with the given ids, as one item file.
std::string WriteFile(const IngestTicket& t, const std::string& dir, const std::string& name,
                      const std::vector<int64_t>& ids, const Matrix& reps, const std::vector<int64_t>& rows) {
  Matrix part(static_cast<int64_t>(rows.size()), reps.cols());
  std::vector<int64_t> part_ids;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(reps.row(rows[i]), reps.row(rows[i]) + reps.cols(), part.row(static_cast<int64_t>(i)));
    part_ids.push_back(ids[rows[i]]);
  }
  const std::string path = dir + "/" + name;
  Status s = WriteItemFile(t.ticket, path, part_ids, part);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return path;
}

struct IngestSetup {
  CrossSetup s;
  std::string dir = FreshDir("ingest"), work;
  std::unique_ptr<Database> db;
  Matrix reps;  // model A's representations of s.za with the collection's options
  IngestSetup() {
    work = dir + "-work";
    std::filesystem::create_directories(work);
    db = OpenOrDie(dir);
    s.Register(*db, "Flat", "items");
    EXPECT_OK(db->CreateCollection("ing", CrossSetup::Options()));
    EncoderOptions eo;
    eo.steps = 6;
    auto r = db->Encode("A", "S", s.za, eo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    reps = std::move(*r);
  }
  // Three files over shuffled rows of `rows` (ids = row numbers).
  std::vector<std::string> Files(const IngestTicket& t, std::vector<int64_t> rows, const std::string& tag = "p") {
    std::mt19937 g(3);
    std::shuffle(rows.begin(), rows.end(), g);
    const std::vector<int64_t> ids = Iota(s.n);
    std::vector<std::string> out;
    const size_t third = rows.size() / 3;
    for (int f = 0; f < 3; ++f) {
      std::vector<int64_t> part(rows.begin() + f * third, f == 2 ? rows.end() : rows.begin() + (f + 1) * third);
      out.push_back(WriteFile(t, work, tag + std::to_string(f) + ".sst", ids, reps, part));
    }
    return out;
  }
};

void ExpectSameItems(Database& db, const std::string& a, const std::string& b, int64_t n) {
  for (int64_t id = 0; id < n; ++id) {
    auto x = db.Get(a, id), y = db.Get(b, id);
    ASSERT_EQ(x.ok(), y.ok()) << id;
    if (!x.ok()) continue;
    EXPECT_EQ(x->model, y->model);
    EXPECT_EQ(x->representation, y->representation) << "id " << id;
  }
}

// Files written by "workers" and ingested hold bit-for-bit the items Add stores,
// search the same, and survive a reopen (count, version, index).
TEST(Ingest, EqualsAdd) {
  IngestSetup t;
  ASSERT_OK(t.db->Add("items", "A", Iota(t.s.n), t.s.za));
  auto ticket = t.db->PrepareIngest("ing", "A");
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  EXPECT_EQ(ticket->steps, 6);
  EXPECT_EQ(ticket->anchor_latents.rows(), t.s.K);
  EXPECT_EQ(ticket->anchor_latents.row(3)[2], t.s.anchors_a.row(3)[2]);
  auto stats = t.db->IngestItemFiles("ing", "A", ticket->ticket, t.Files(*ticket, Iota(t.s.n)));
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->items, t.s.n);
  EXPECT_EQ(stats->replaced, 0);
  EXPECT_EQ(stats->files, 3);
  auto info = t.db->GetCollectionInfo("ing");
  EXPECT_EQ(info->items, t.s.n);
  EXPECT_EQ(info->indexed, t.s.n);
  EXPECT_EQ(info->version, 1u);
  ExpectSameItems(*t.db, "items", "ing", t.s.n);
  auto r1 = t.db->Search("items", "B", t.s.zb, 5), r2 = t.db->Search("ing", "B", t.s.zb, 5);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->ids, r2->ids);
  EXPECT_GT(Top1(*r2, Iota(t.s.n)), 0.9);
  ASSERT_OK(t.db->Close());
  t.db = OpenOrDie(t.dir);
  info = t.db->GetCollectionInfo("ing");
  EXPECT_EQ(info->items, t.s.n);
  EXPECT_EQ(info->version, 1u);
  EXPECT_EQ(info->index_state, "loaded");
  ExpectSameItems(*t.db, "items", "ing", t.s.n);
}

// Ids already stored are replaced (count counts them once) in RocksDB and the index.
TEST(Ingest, Upserts) {
  IngestSetup t;
  Matrix old = Matrix::CopyOf(t.s.za.view().RowSlice(0, 100));
  for (int64_t i = 0; i < old.size(); ++i) old.data()[i] = -old.data()[i];
  ASSERT_OK(t.db->Add("ing", "A", Iota(100), old));
  ASSERT_OK(t.db->Add("items", "A", Iota(t.s.n), t.s.za));
  auto ticket = t.db->PrepareIngest("ing", "A");
  ASSERT_TRUE(ticket.ok());
  auto stats = t.db->IngestItemFiles("ing", "A", ticket->ticket, t.Files(*ticket, Iota(150, 50)));
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->replaced, 50);
  auto info = t.db->GetCollectionInfo("ing");
  EXPECT_EQ(info->items, 200);
  EXPECT_EQ(info->indexed, 200);
  EXPECT_EQ(info->version, 2u);
  // 50..199 are the ingested ones, 0..49 the old Add's.
  for (int64_t id : {0, 49, 50, 120, 199}) {
    auto x = t.db->Get("ing", id), y = t.db->Get("items", id);
    ASSERT_TRUE(x.ok() && y.ok());
    if (id >= 50) EXPECT_EQ(x->representation, y->representation) << id;
    else EXPECT_NE(x->representation, y->representation) << id;
  }
  // The index holds each id once: searching an ingested item's own representation finds it first.
  auto r = t.db->SearchRepresentations("ing", t.reps, 3);
  ASSERT_TRUE(r.ok());
  for (int64_t q = 50; q < t.s.n; ++q) EXPECT_EQ(r->row_ids(q)[0], q);
}

void ExpectUnchanged(Database& db, uint64_t version, int64_t items) {
  auto info = db.GetCollectionInfo("ing");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version, version);
  EXPECT_EQ(info->items, items);
  EXPECT_EQ(info->indexed, items);
  EXPECT_EQ(db.Get("ing", 150).status().code(), StatusCode::kNotFound);
}

// A ticket from before the collection was recreated, or the model's anchors replaced,
// is refused with nothing changed.
TEST(Ingest, StaleTicketRefused) {
  IngestSetup t;
  auto ticket = t.db->PrepareIngest("ing", "A");
  ASSERT_TRUE(ticket.ok());
  auto files = t.Files(*ticket, Iota(t.s.n));
  Matrix moved = Matrix::CopyOf(t.s.anchors_a);
  moved.data()[0] += 1.0f;
  ASSERT_OK(t.db->AttachAnchors("A", "S", moved));
  auto r = t.db->IngestItemFiles("ing", "A", ticket->ticket, files);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  ExpectUnchanged(*t.db, 0, 0);
  ASSERT_OK(t.db->AttachAnchors("A", "S", t.s.anchors_a));
  auto fresh = t.db->PrepareIngest("ing", "A");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->ticket, ticket->ticket);  // same map and anchors: the same ticket
  ASSERT_OK(t.db->DropCollection("ing"));
  ASSERT_OK(t.db->CreateCollection("ing", CrossSetup::Options()));
  r = t.db->IngestItemFiles("ing", "A", ticket->ticket, files);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  ExpectUnchanged(*t.db, 0, 0);
  // The ticket's model is the one named.
  r = t.db->IngestItemFiles("ing", "B", ticket->ticket, files);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// A truncated or bit-flipped file, or an id in two files, fails the whole ingest:
// none of the (good) other files' items arrive.
TEST(Ingest, BadFilesChangeNothing) {
  IngestSetup t;
  ASSERT_OK(t.db->Add("ing", "A", Iota(10), t.s.za.view().RowSlice(0, 10)));
  auto ticket = t.db->PrepareIngest("ing", "A");
  ASSERT_TRUE(ticket.ok());
  auto files = t.Files(*ticket, Iota(t.s.n - 10, 10));
  const auto size = std::filesystem::file_size(files[1]);
  {
    std::string bytes;
    std::ifstream in(files[1], std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
    std::string flipped = bytes;
    flipped[flipped.size() / 3] ^= 0x5a;
    std::ofstream(t.work + "/flipped.sst", std::ios::binary) << flipped;
    std::ofstream(t.work + "/short.sst", std::ios::binary) << bytes.substr(0, size / 2);
  }
  for (const char* bad : {"/flipped.sst", "/short.sst", "/missing.sst"}) {
    auto r = t.db->IngestItemFiles("ing", "A", ticket->ticket, {files[0], t.work + bad, files[2]});
    EXPECT_FALSE(r.ok()) << bad;
    if (std::string(bad) != "/missing.sst") EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    ExpectUnchanged(*t.db, 1, 10);
  }
  // Overlapping files: id 5 is both already stored (fine: an upsert) and in two files (refused).
  auto dup = WriteFile(*ticket, t.work, "dup.sst", Iota(t.s.n), t.reps, {5, 150});
  auto r = t.db->IngestItemFiles("ing", "A", ticket->ticket, {files[0], files[1], files[2], dup});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  ExpectUnchanged(*t.db, 1, 10);
  // The good files still go in, after all that.
  auto ok = t.db->IngestItemFiles("ing", "A", ticket->ticket, files);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(t.db->GetCollectionInfo("ing")->items, t.s.n);
}

TEST(Ingest, WriteItemFileRejectsBadInput) {
  IngestSetup t;
  auto ticket = t.db->PrepareIngest("ing", "A");
  ASSERT_TRUE(ticket.ok());
  const std::string p = t.work + "/x.sst";
  Matrix two = Matrix::CopyOf(t.reps.view().RowSlice(0, 2));
  EXPECT_EQ(WriteItemFile(ticket->ticket, p, {1, 1}, two).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteItemFile(ticket->ticket, p, {1, -1}, two).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteItemFile(ticket->ticket, p, {1}, two).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteItemFile(ticket->ticket, p, {}, Matrix(0, t.s.K)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteItemFile(ticket->ticket, p, {1, 2}, Matrix(2, t.s.K + 1)).code(), StatusCode::kInvalidArgument);
  two.data()[3] = std::nanf("");
  EXPECT_EQ(WriteItemFile(ticket->ticket, p, {1, 2}, two).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteItemFile("not a ticket", p, {1, 2}, t.reps.view().RowSlice(0, 2)).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(p));
  EXPECT_EQ(t.db->PrepareIngest("nope", "A").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(t.db->PrepareIngest("ing", "nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace relgeo
