// Storage faults through the relgeo tool (docs/database.md#damaged-files-and-faults):
// --read-only reads, an index that cannot be saved after `index` (exit 0 and a
// warning), a database held by another process, a WAL that lost acknowledged
// writes (exit 4), and reads of a database on a full disk.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "database/db_test_util.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

// A database with the standard setup and its n items (Flat), closed.
void MakeDatabase(const std::string& dir, CrossSetup& s) {
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  s.Register(*db);
  ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
  ASSERT_OK(db->Close());
}
std::string TheIndexFile(const std::string& dir) {
  for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) return e.path().string();
  return "";
}

TEST(FaultsCli, ReadOnlyInfoAndSearchWriteNothing) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string dir = FreshDir("cli_ro"), q = testing::TempDir() + "/faults_q.npy";
  MakeDatabase(dir, s);
  ASSERT_OK(WriteNpyMatrix(q, s.zb.view().RowSlice(0, 3)));
  fs::remove(TheIndexFile(dir));
  std::string out, err;
  ASSERT_EQ(RunTool("info --read-only --db " + dir, &out, &err), 0) << err;
  EXPECT_NE(out.find("items=200"), std::string::npos) << out;
  EXPECT_NE(out.find("index rebuilt (missing)"), std::string::npos) << out;
  ASSERT_EQ(RunTool("search --read-only --db " + dir + " --collection items --model B --latents " + q + " --k 1", &out, &err), 0)
      << err;
  EXPECT_EQ(out, "0: 0(1.0000)\n1: 1(1.0000)\n2: 2(1.0000)\n");
  ASSERT_EQ(RunTool("collection list --read-only --db " + dir, &out, &err), 0) << err;
  EXPECT_FALSE(fs::exists(dir + "/relgeo-index/1.idx")) << "a read-only search saved the index";
  // Reads with --read-only need no lock: they work while a writer holds the directory.
  {
    auto held = OpenOrDie(dir);
    ASSERT_TRUE(held);
    EXPECT_EQ(RunTool("info --read-only --db " + dir, &out, &err), 0) << err;
  }
}

TEST(FaultsCli, IndexWhoseIndexFileCannotBeSavedExitsZeroWithAWarning) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string dir = FreshDir("cli_nosave"), z = testing::TempDir() + "/faults_z.npy",
                    ids = testing::TempDir() + "/faults_ids.npy";
  MakeDatabase(dir, s);
  ASSERT_OK(WriteNpyMatrix(z, s.za.view().RowSlice(0, 10)));
  ASSERT_OK(WriteNpyInt64(ids, Iota(10, 1000)));
  const std::string file = TheIndexFile(dir);
  fs::remove(file);
  fs::create_directories(file);  // the index file cannot be written
  std::string out, err;
  EXPECT_EQ(RunTool("-q index --db " + dir + " --collection items --model A --latents " + z + " --ids " + ids, &out, &err), 0)
      << err;
  EXPECT_NE(err.find("warning: the index was not saved"), std::string::npos) << err;
  fs::remove(file);
  ASSERT_EQ(RunTool("info --db " + dir, &out, &err), 0) << err;
  EXPECT_NE(out.find("items=210"), std::string::npos) << "the committed items are there: " << out;
}

TEST(FaultsCli, SecondProcessGetsInUseError) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string dir = FreshDir("cli_lock");
  MakeDatabase(dir, s);
  auto held = OpenOrDie(dir);
  ASSERT_TRUE(held);
  std::string out, err;
  EXPECT_EQ(RunTool("collection drop --db " + dir + " --name items", &out, &err), 1);
  EXPECT_NE(err.find("is already open: it is in use by another process"), std::string::npos) << err;
  EXPECT_NE(err.find("lock held: " + dir + "/LOCK"), std::string::npos) << err;
  EXPECT_EQ(err.find("IO error"), std::string::npos) << "a raw RocksDB message: " << err;
}

TEST(FaultsCli, DamagedWalExitsFourNamingWhatWasLost) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string dir = FreshDir("cli_wal");
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db);
    for (int b = 0; b < 10; ++b) ASSERT_OK(db->Add("items", "A", Iota(20, 20 * b), s.za.view().RowSlice(20 * b, 20)));
  }
  std::string wal;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log") wal = e.path().string();
  ASSERT_FALSE(wal.empty());
  fs::resize_file(wal, fs::file_size(wal) / 2);
  std::string out, err;
  EXPECT_EQ(RunTool("info --db " + dir, &out, &err), 4) << out << err;
  EXPECT_NE(err.find("went backwards"), std::string::npos) << err;
  EXPECT_NE(err.find("with 200 items"), std::string::npos) << err;
  EXPECT_EQ(RunTool("info --read-only --db " + dir, &out, &err), 4) << out << err;
}

TEST(FaultsCli, InfoAndSearchAnswerWhileTheDiskIsFull) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  ScopedTmpfs tmpfs("cli_tmpfs");
  if (!tmpfs.error.empty()) GTEST_SKIP() << tmpfs.error;
  const std::string& mnt = tmpfs.dir;
  CrossSetup s;
  const std::string dir = mnt + "/db", q = testing::TempDir() + "/faults_full_q.npy";
  MakeDatabase(dir, s);
  ASSERT_OK(WriteNpyMatrix(q, s.zb.view().RowSlice(0, 2)));
  {
    // Fill the disk to the last byte.
    std::ofstream f(mnt + "/filler", std::ios::binary);
    const std::string block(64 << 10, 'x');
    for (int i = 0; i < 200 && f.write(block.data(), block.size()); ++i) {
    }
    std::ofstream g(mnt + "/filler2", std::ios::binary);
    for (int i = 0; i < 70000 && g.put('x'); ++i) g.flush();
  }
  std::string out, err;
  EXPECT_EQ(RunTool("info --db " + dir, &out, &err), 0) << err;
  EXPECT_NE(out.find("items=200"), std::string::npos) << out << err;
  EXPECT_EQ(RunTool("search --db " + dir + " --collection items --model B --latents " + q + " --k 1", &out, &err), 0) << err;
  EXPECT_EQ(out, "0: 0(1.0000)\n1: 1(1.0000)\n");
  // A write says so.
  EXPECT_EQ(RunTool("collection drop --db " + dir + " --name items", &out, &err), 1) << err;
  EXPECT_NE(err.find("disk full"), std::string::npos) << err;
}

}  // namespace
}  // namespace relgeo
