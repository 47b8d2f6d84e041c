// Storage faults (issue 13; docs/database.md#damaged-files-and-faults): a full disk
// while adding, read-only opens, a database held by another process, a WAL or
// table file that lost acknowledged writes, and crafted index files whose FAISS
// headers lie. Nothing may abort, hang or silently lose items.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "database/db_test_util.h"
#include "relgeo/database.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::vector<std::string> FilesWithExtension(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}
std::string IndexFile(const std::string& dir) {
  for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) return e.path().string();
  return "";
}

// zlib's crc32 (the index file's checksum), so crafted files pass it.
uint32_t Crc32(const std::string& s, size_t from) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = from; i < s.size(); ++i) {
    c ^= static_cast<unsigned char>(s[i]);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}
// Index file header (docs/design.md §5.3): magic, version @8, sequence @16, crc @24,
// body size @28, body @36.
constexpr size_t kIdxHead = 36;
void Reseal(std::string* f) {
  const uint32_t crc = Crc32(*f, kIdxHead);
  std::memcpy(&(*f)[24], &crc, 4);
  const uint64_t n = f->size() - kIdxHead;
  std::memcpy(&(*f)[28], &n, 8);
}

// A database with `batches` Add calls of `per` items each (Flat unless given).
void Populate(const std::string& dir, CrossSetup& s, int batches, int64_t per, const std::string& index = "Flat") {
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  s.Register(*db, index);
  for (int b = 0; b < batches; ++b) {
    Matrix z = RandomMatrix(per, s.d, 100 + b);
    ASSERT_OK(db->Add("items", "A", Iota(per, b * per), z));
  }
  ASSERT_OK(db->Close());
}

// ------------------------------------------------------------------ disk full
TEST(Faults, DiskFullWhileAddingFailsClearlyAndKeepsEveryAcknowledgedItem) {
  ScopedTmpfs tmpfs("tmpfs");
  if (!tmpfs.error.empty()) GTEST_SKIP() << tmpfs.error;
  const std::string& mnt = tmpfs.dir;
  const std::string dir = mnt + "/db", filler = mnt + "/filler";
  CrossSetup s;
  std::set<int64_t> acked;
  Status failed;
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db);
    // Leave about 1 MiB free, then add 64 KiB payloads until the disk is full.
    Spit(filler, std::string(2900 << 10, 'x'));
    const std::string payload(64 << 10, 'p');
    for (int b = 0; b < 200 && failed.ok(); ++b) {
      Matrix z = RandomMatrix(2, s.d, 300 + b);
      failed = db->Add("items", "A", {2 * b, 2 * b + 1}, z, {payload, payload});
      if (failed.ok()) acked.insert({2 * b, 2 * b + 1});
    }
    ASSERT_FALSE(failed.ok()) << "the disk never filled";
    EXPECT_EQ(failed.code(), StatusCode::kIOError) << failed.ToString();
    EXPECT_NE(failed.message().find("disk full"), std::string::npos) << failed.ToString();
    EXPECT_NE(failed.message().find(dir), std::string::npos) << failed.ToString();
    EXPECT_GT(acked.size(), 0u);
    // Later writes fail the same way, without touching the failed log.
    EXPECT_EQ(db->Add("items", "A", {100000}, RandomMatrix(1, s.d, 9)).code(), StatusCode::kIOError);
    (void)db->Close();  // the index cannot be saved: an error, not an abort
  }
  {
    // Still full: a read-only open answers with every acknowledged item.
    DatabaseOptions ro;
    ro.read_only = true;
    auto db = Database::Open(dir, ro);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    for (int64_t id : acked) EXPECT_TRUE((*db)->Get("items", id).ok()) << id;
    auto r = (*db)->Search("items", "B", ApplyAffine(RandomMatrix(2, s.d, 300), s.T, s.t), 1);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  fs::remove(filler);
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  auto info = db->GetCollectionInfo("items");
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->items, static_cast<int64_t>(acked.size()));
  EXPECT_EQ(info->indexed, info->items);
  for (int64_t id : acked) EXPECT_TRUE(db->Get("items", id).ok()) << id;
  ASSERT_OK(db->Close());
}

// ------------------------------------------------------------------ read-only
TEST(Faults, ReadOnlyOpenAnswersReadsWritesNothingAndRefusesWrites) {
  CrossSetup s;
  const std::string dir = FreshDir("readonly");
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db);
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
  }
  fs::remove(IndexFile(dir));  // rebuilt in memory by the read-only open
  auto listing = [&] {
    std::set<std::string> names;
    for (auto& e : fs::recursive_directory_iterator(dir))
      names.insert(e.path().string() + " " + std::to_string(e.is_regular_file() ? fs::file_size(e.path()) : 0));
    return names;
  };
  const auto before = listing();
  DatabaseOptions ro;
  ro.read_only = true;
  {
    auto db = Database::Open(dir, ro);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    // A read-only handle takes no lock: a writer may hold the directory meanwhile.
    auto info = (*db)->GetCollectionInfo("items");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->index_state, "rebuilt (missing)");
    EXPECT_EQ(info->items, s.n);
    auto r = (*db)->Search("items", "B", s.zb, 1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0);
    const Status add = (*db)->Add("items", "A", {999}, RandomMatrix(1, s.d, 5));
    EXPECT_EQ(add.code(), StatusCode::kFailedPrecondition) << add.ToString();
    EXPECT_NE(add.message().find("read-only"), std::string::npos) << add.ToString();
    EXPECT_EQ((*db)->CreateAnchorSet("T", {1, 2}).code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ((*db)->SaveIndexes().code(), StatusCode::kFailedPrecondition);
    EXPECT_OK((*db)->Close());
  }
  EXPECT_EQ(listing(), before) << "a read-only open changed the directory";
  EXPECT_EQ(Database::Open(FreshDir("readonly_missing"), ro).status().code(), StatusCode::kNotFound);
}

// ------------------------------------------------------------------ lock
TEST(Faults, SecondProcessOpeningTheDatabaseGetsAClearError) {
  const std::string dir = FreshDir("locked");
  ASSERT_TRUE(OpenOrDie(dir));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // holds the database until killed
    ::close(ready[0]);
    auto db = Database::Open(dir);
    const char c = db.ok() ? '1' : '0';
    (void)!::write(ready[1], &c, 1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(c, '1');
  auto second = Database::Open(dir);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find(dir + "/LOCK"), std::string::npos) << second.status().message();
  // Read-only opens take no lock; once the holder is gone, a writer opens.
  EXPECT_TRUE(OpenOrDie(dir));
}

// ------------------------------------------------------------------ lost writes
// A damaged WAL: RocksDB's point-in-time recovery stops at the first bad record
// and the database silently goes back in time. The index file, saved after the
// WAL was synced, is then ahead of it: Corruption naming what was lost.
void ExpectWentBackwards(const std::string& dir) {
  auto db = Database::Open(dir);
  ASSERT_FALSE(db.ok()) << "a database that lost acknowledged writes opened";
  EXPECT_EQ(db.status().code(), StatusCode::kCorruption) << db.status().ToString();
  const std::string m = db.status().message();
  EXPECT_NE(m.find("went backwards"), std::string::npos) << m;
  EXPECT_NE(m.find(IndexFile(dir)), std::string::npos) << m;
  EXPECT_NE(m.find("with 400 items"), std::string::npos) << m;  // what the index had
  // Still reported on the next open (recovery has rewritten the WAL by now).
  EXPECT_EQ(Database::Open(dir).status().code(), StatusCode::kCorruption);
}

TEST(Faults, TruncatedWalIsCorruptionNotSilentLoss) {
  CrossSetup s;
  const std::string dir = FreshDir("wal_truncated");
  Populate(dir, s, 10, 40);
  auto logs = FilesWithExtension(dir, ".log");
  ASSERT_EQ(logs.size(), 1u);
  fs::resize_file(logs[0], fs::file_size(logs[0]) / 2);
  ExpectWentBackwards(dir);
}

TEST(Faults, BitFlippedWalIsCorruptionNotSilentLoss) {
  CrossSetup s;
  const std::string dir = FreshDir("wal_flipped");
  Populate(dir, s, 10, 40);
  auto logs = FilesWithExtension(dir, ".log");
  ASSERT_EQ(logs.size(), 1u);
  std::string wal = Slurp(logs[0]);
  wal[wal.size() / 2] ^= 0x10;
  Spit(logs[0], wal);
  ExpectWentBackwards(dir);
}

// A torn last record (a crash in the middle of a write) is not lost data: the
// index was saved before it, so the database opens and rebuilds the index.
TEST(Faults, TornLastWalRecordAfterTheLastIndexSaveIsNotCorruption) {
  CrossSetup s;
  const std::string dir = FreshDir("wal_torn");
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db);
    ASSERT_OK(db->Add("items", "A", Iota(40), RandomMatrix(40, s.d, 1)));
    ASSERT_OK(db->SaveIndexes());
    const std::string saved = Slurp(IndexFile(dir));
    ASSERT_OK(db->Add("items", "A", Iota(40, 40), RandomMatrix(40, s.d, 2)));
    ASSERT_OK(db->Close());
    Spit(IndexFile(dir), saved);  // as if the process died before Close saved again
  }
  auto logs = FilesWithExtension(dir, ".log");
  ASSERT_EQ(logs.size(), 1u);
  fs::resize_file(logs[0], fs::file_size(logs[0]) - 7);  // the last batch's record, torn
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  auto info = db->GetCollectionInfo("items");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->items, 40);
  EXPECT_EQ(info->indexed, 40);
}

// Table files: the manifest records their sizes and every block has a checksum.
void FlushToTables(const std::string& dir) {
  // Reopening read-write replays the WAL into a table file.
  ASSERT_TRUE(OpenOrDie(dir));
  ASSERT_FALSE(FilesWithExtension(dir, ".sst").empty());
}

TEST(Faults, TruncatedTableFileIsCorruptionNamingTheFile) {
  CrossSetup s;
  const std::string dir = FreshDir("sst_truncated");
  Populate(dir, s, 4, 50);
  FlushToTables(dir);
  const auto ssts = FilesWithExtension(dir, ".sst");
  fs::resize_file(ssts.back(), fs::file_size(ssts.back()) / 2);
  auto db = Database::Open(dir);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kCorruption) << db.status().ToString();
  EXPECT_NE(db.status().message().find(fs::path(ssts.back()).filename().string()), std::string::npos)
      << db.status().message();
}

TEST(Faults, BitFlippedTableFileIsCorruptionNamingTheFile) {
  CrossSetup s;
  const std::string dir = FreshDir("sst_flipped");
  Populate(dir, s, 4, 50);
  FlushToTables(dir);
  const auto ssts = FilesWithExtension(dir, ".sst");
  std::string bytes = Slurp(ssts.back());
  bytes[bytes.size() / 3] ^= 0x01;  // inside the data blocks (items)
  Spit(ssts.back(), bytes);
  fs::remove(IndexFile(dir));  // the rebuild reads every item
  auto db = Database::Open(dir);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kCorruption) << db.status().ToString();
  EXPECT_NE(db.status().message().find(fs::path(ssts.back()).filename().string()), std::string::npos)
      << db.status().message();
}

// ------------------------------------------------------------------ crafted index files
// The FAISS blob of a Flat index file: the body is "RGVI0001", u64 + spec text,
// u64 + FAISS bytes (IndexIDMap2: "IxM2", d @4, ntotal @8, ...).
size_t FaissBlobOffset(const std::string& f) {
  uint64_t spec_len;
  std::memcpy(&spec_len, f.data() + kIdxHead + 8, 8);
  return kIdxHead + 8 + 8 + spec_len + 8;
}

void ExpectRebuiltFromCraftedIndex(const std::string& dir, int64_t n, const std::string& crafted) {
  Spit(IndexFile(dir), crafted);
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  auto info = db->GetCollectionInfo("items");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->index_state.rfind("rebuilt (corrupt", 0), 0u) << info->index_state;
  EXPECT_EQ(info->items, n);
  EXPECT_EQ(info->indexed, n);
  ASSERT_OK(db->Close());  // saves a good index again
}

TEST(Faults, CraftedIndexFilesWithValidChecksumsAreRebuiltNotTrusted) {
  CrossSetup s;
  const std::string dir = FreshDir("crafted");
  Populate(dir, s, 1, 100);
  const std::string good = Slurp(IndexFile(dir));
  const size_t faiss = FaissBlobOffset(good);
  ASSERT_EQ(good.compare(faiss, 4, "IxM2"), 0);
  auto with_u64 = [&](size_t at, uint64_t v) {
    std::string f = good;
    std::memcpy(&f[at], &v, 8);
    Reseal(&f);
    return f;
  };
  // ntotal past the id table: construct_rev_map would read past it (or loop for ever).
  ExpectRebuiltFromCraftedIndex(dir, 100, with_u64(faiss + 8, 101));
  ExpectRebuiltFromCraftedIndex(dir, 100, with_u64(faiss + 8, uint64_t{1} << 40));
  ExpectRebuiltFromCraftedIndex(dir, 100, with_u64(faiss + 8, ~uint64_t{0}));
  // The id table's own length field.
  ExpectRebuiltFromCraftedIndex(dir, 100, with_u64(good.size() - 8 * 100 - 8, uint64_t{1} << 39));
  // A shorter id table with a consistent header: not the database's item count.
  {
    std::string f = good.substr(0, good.size() - 8);
    const uint64_t ids = 99;
    std::memcpy(&f[f.size() - 8 * 99 - 8], &ids, 8);
    Reseal(&f);
    ExpectRebuiltFromCraftedIndex(dir, 100, f);
  }
  // A dimension that is not the collection's.
  {
    std::string f = good;
    const int32_t d = 1 << 30;
    std::memcpy(&f[faiss + 4], &d, 4);
    Reseal(&f);
    ExpectRebuiltFromCraftedIndex(dir, 100, f);
  }
  // A sequence number the database never reached: the database lost writes.
  {
    std::string f = with_u64(16, uint64_t{1} << 50);
    Spit(IndexFile(dir), f);
    auto db = Database::Open(dir);
    ASSERT_FALSE(db.ok());
    EXPECT_EQ(db.status().code(), StatusCode::kCorruption);
    EXPECT_NE(db.status().message().find("went backwards"), std::string::npos) << db.status().message();
  }
}

TEST(Faults, CraftedHnswAndIvfIndexHeadersAreRebuilt) {
  // IVF4 trains at 39 x 4 items, so 200 items make a trained IVF index.
  for (const std::string spec : {"HNSW8", "IVF4"}) {
    SCOPED_TRACE(spec);
    CrossSetup s;
    const std::string dir = FreshDir("crafted_" + spec);
    Populate(dir, s, 1, 200, spec);
    const std::string good = Slurp(IndexFile(dir));
    const size_t faiss = FaissBlobOffset(good) + (spec == "IVF4" ? 8 : 0);  // IVF: u64 trained flag first
    ASSERT_EQ(good.compare(faiss, 1, "I"), 0) << good.substr(faiss, 4);
    for (uint64_t ntotal : {uint64_t{1} << 40, uint64_t{199}, ~uint64_t{0}}) {
      std::string f = good;
      std::memcpy(&f[faiss + 8], &ntotal, 8);
      Reseal(&f);
      ExpectRebuiltFromCraftedIndex(dir, 200, f);
    }
  }
}

}  // namespace
}  // namespace relgeo
