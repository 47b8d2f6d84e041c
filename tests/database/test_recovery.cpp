// Recovery (src/database/index_files.cpp): index files saved, loaded and rebuilt
// when missing, corrupt or stale; crash safety with a child process killed by
// SIGKILL while bulk indexing.
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

// ------------------------------------------------------------------ persistence
TEST(Database, IndexIsSavedLoadedAndRebuiltWhenMissingCorruptOrStale) {
  CrossSetup s;
  const std::string dir = FreshDir("persist");
  SearchResults before;
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db, "HNSW16");
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
    before = *db->Search("items", "B", s.zb, 5);
  }
  auto index_file = [&] {
    for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) return e.path().string();
    return std::string();
  };
  auto reopen_state = [&](std::string* state) {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    auto info = db->GetCollectionInfo("items");
    ASSERT_TRUE(info.ok());
    *state = info->index_state;
    EXPECT_EQ(info->indexed, s.n);
    auto r = db->Search("items", "B", s.zb, 5);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0);
  };
  std::string state;
  reopen_state(&state);
  EXPECT_EQ(state, "loaded");
  const std::string file = index_file();
  ASSERT_FALSE(file.empty());
  std::string saved;
  {
    std::ifstream in(file, std::ios::binary);
    saved.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Corrupt: flip a byte in the middle.
  {
    std::string bad = saved;
    bad[bad.size() / 2] ^= 0x5a;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bad;
  }
  reopen_state(&state);
  EXPECT_EQ(state.rfind("rebuilt (corrupt", 0), 0u) << state;
  // Truncated and garbage.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << saved.substr(0, 30);
  reopen_state(&state);
  EXPECT_EQ(state.rfind("rebuilt (corrupt", 0), 0u) << state;
  // Missing.
  fs::remove(file);
  reopen_state(&state);
  EXPECT_EQ(state, "rebuilt (missing)");
  // Stale: an older index file after a later mutation.
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    ASSERT_EQ(*db->Remove("items", {0}), 1);
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << saved;
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    auto info = db->GetCollectionInfo("items");
    EXPECT_EQ(info->index_state.rfind("rebuilt (stale", 0), 0u) << info->index_state;
    EXPECT_EQ(info->items, s.n - 1);
    EXPECT_EQ(info->indexed, s.n - 1);
    auto r = db->Search("items", "B", s.zb.view().RowSlice(0, 1), 5);
    for (int64_t id : r->ids) EXPECT_NE(id, 0);
  }
}

// A CURRENT file that is damaged, names a manifest that does not exist, or is not a
// file at all: the database is corrupt (Corruption, exit 4 in the tool), and the
// message names the file. Restoring CURRENT restores the database.
TEST(Database, DamagedCurrentFileIsCorruptionNamingTheFile) {
  CrossSetup s;
  const std::string dir = FreshDir("current");
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db);
    ASSERT_OK(db->Add("items", "A", Iota(20), s.za.view().RowSlice(0, 20)));
  }
  const std::string current = dir + "/CURRENT";
  std::string good;
  {
    std::ifstream in(current, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(good.rfind("MANIFEST-", 0), 0u) << good;
  for (const std::string& bad : {std::string("MANIFEST-999999\n"), std::string("garbage\n"), std::string(),
                                 std::string("MANIFEST-000001"), std::string("\x01\x02\x03", 3), good + good}) {
    std::ofstream(current, std::ios::binary | std::ios::trunc) << bad;
    auto db = Database::Open(dir);
    ASSERT_FALSE(db.ok());
    EXPECT_EQ(db.status().code(), StatusCode::kCorruption) << db.status().ToString();
    EXPECT_NE(db.status().message().find(current), std::string::npos) << db.status().message();
    for (unsigned char c : db.status().message()) EXPECT_GE(c, 0x20) << db.status().message();
  }
  fs::remove(current);
  fs::create_directory(current);
  auto dir_current = Database::Open(dir);
  EXPECT_EQ(dir_current.status().code(), StatusCode::kCorruption) << dir_current.status().ToString();
  EXPECT_NE(dir_current.status().message().find(current), std::string::npos) << dir_current.status().message();
  fs::remove(current);
  std::ofstream(current, std::ios::binary | std::ios::trunc) << good;
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  EXPECT_EQ(db->GetCollectionInfo("items")->items, 20);
}

// Something other than a file where relgeo-index/<cid>.idx belongs (here a
// directory): opening rebuilds the index from RocksDB and serves every item;
// saving it fails with an IOError naming the path (no exception, no abort), and
// leaves no temporary file behind.
TEST(Database, DirectoryInPlaceOfTheIndexFileIsRebuiltAndSavingFailsClearly) {
  CrossSetup s;
  const std::string dir = FreshDir("index_dir");
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db);
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
  }
  std::string file;
  for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) file = e.path().string();
  ASSERT_FALSE(file.empty());
  fs::remove(file);
  fs::create_directories(file + "/inside");
  {
    auto db = Database::Open(dir);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto info = (*db)->GetCollectionInfo("items");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->index_state.rfind("rebuilt (corrupt", 0), 0u) << info->index_state;
    EXPECT_NE(info->index_state.find("not a regular file"), std::string::npos) << info->index_state;
    EXPECT_EQ(info->items, s.n);
    EXPECT_EQ(info->indexed, s.n);
    auto r = (*db)->Search("items", "B", s.zb, 1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0);
    const Status save = (*db)->SaveIndexes();
    EXPECT_EQ(save.code(), StatusCode::kIOError) << save.ToString();
    EXPECT_NE(save.message().find(file), std::string::npos) << save.message();
    const Status close = (*db)->Close();
    EXPECT_EQ(close.code(), StatusCode::kIOError) << close.ToString();
    EXPECT_NE(close.message().find(file), std::string::npos) << close.message();
  }
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) names.push_back(e.path().filename().string());
  EXPECT_EQ(names.size(), 1u) << "left behind: " << (names.size() > 1 ? names[1] : "");
  EXPECT_TRUE(fs::is_directory(file + "/inside")) << "the directory in the way is not ours to remove";
  // Once it is gone, the index is saved again.
  fs::remove_all(file);
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    EXPECT_EQ(db->GetCollectionInfo("items")->index_state, "rebuilt (missing)");
  }
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  EXPECT_EQ(db->GetCollectionInfo("items")->index_state, "loaded");
}

// ------------------------------------------------------------------ crash safety
// The child: opens the database, bulk-indexes batch after batch of deterministic
// latents, and after each committed batch writes "ACK <batches>\n" to stdout.
// It runs only when RELGEO_CRASH_CHILD names a database directory.
constexpr int64_t kCrashBatch = 32;
constexpr int64_t kCrashD = 4;

Matrix CrashBatchLatents(int64_t b) { return RandomMatrix(kCrashBatch, kCrashD, 1000 + b); }

TEST(DatabaseCrashChild, Run) {
  const char* dir = std::getenv("RELGEO_CRASH_CHILD");
  if (!dir) GTEST_SKIP() << "only runs as the crash test's child process";
  DatabaseOptions o;
  o.index_save_every = 5 * kCrashBatch;  // also get killed while saving indexes
  auto db = Database::Open(dir, o);
  if (!db.ok()) {
    std::fprintf(stderr, "child: %s\n", db.status().ToString().c_str());
    std::_Exit(3);
  }
  const int64_t start = (*db)->GetCollectionInfo("c")->items / kCrashBatch;
  int64_t b = start;
  BatchSource src = [&](int64_t, std::vector<int64_t>* ids, Matrix* lat) -> Result<int64_t> {
    if (b >= start + 400) return int64_t{0};
    *lat = CrashBatchLatents(b);
    *ids = Iota(kCrashBatch, b * kCrashBatch);
    ++b;
    return kCrashBatch;
  };
  BulkOptions bo;
  bo.batch_size = kCrashBatch;
  bo.progress = [&](const BulkProgress& p) {
    char line[64];
    const int len = std::snprintf(line, sizeof line, "ACK %lld\n", static_cast<long long>(start + p.batches));
    if (::write(1, line, len) != len) std::_Exit(4);
    return true;
  };
  auto st = (*db)->BulkAdd("c", "A", src, bo);
  std::_Exit(st.ok() ? 0 : 5);
}

TEST(Database, CrashSafetyUnderSigkill) {
  const int trials = std::getenv("RELGEO_CRASH_TRIALS") ? std::atoi(std::getenv("RELGEO_CRASH_TRIALS")) : 24;
  const int64_t K = 8;
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(len, 0);
  self[len] = 0;
  std::mt19937_64 rng(2024);
  const char* specs[] = {"Flat", "HNSW8", "IVF4,Flat"};
  int killed_mid_run = 0, trials_with_acks = 0, committed_not_acked = 0;
  std::map<std::string, int> index_states;
  for (int trial = 0; trial < trials; ++trial) {
    const std::string dir = FreshDir("crash");
    const std::string spec = specs[trial % 3];
    {
      auto db = OpenOrDie(dir);
      ASSERT_TRUE(db);
      ASSERT_OK(db->CreateAnchorSet("S", Iota(K)));
      ModelSpec a;
      a.name = "A";
      a.map_bytes = MlpMapBytes(kCrashD, 8, 6, 3);
      a.anchor_set = "S";
      a.anchor_latents = RandomMatrix(K, kCrashD, 4);
      ASSERT_OK(db->RegisterModel(a));
      ASSERT_OK(db->CreateCollection("c", {"S", spec, 4}));
    }
    int64_t acked = 0;
    // Two child runs per trial: the second resumes on what the first left.
    for (int run = 0; run < 2; ++run) {
      int fds[2];
      ASSERT_EQ(::pipe(fds), 0);
      // Environment prepared before fork: only async-signal-safe calls in the child.
      const std::string env_var = "RELGEO_CRASH_CHILD=" + dir;
      std::vector<char*> envp;
      for (char** e = environ; *e; ++e) envp.push_back(*e);
      envp.push_back(const_cast<char*>(env_var.c_str()));
      envp.push_back(nullptr);
      char filter[] = "--gtest_filter=DatabaseCrashChild.Run";
      char* argv[] = {self, filter, nullptr};
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ::dup2(fds[1], 1);
        ::close(fds[0]);
        ::close(fds[1]);
        ::execve(self, argv, envp.data());
        std::_Exit(127);
      }
      ::close(fds[1]);
      // Wait for the first ACK (or none: some kills land during start-up), then a random delay.
      const int mode = static_cast<int>(rng() % 4);
      std::string buf;
      auto read_some = [&](int timeout_ms) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
        char tmp[4096];
        while (std::chrono::steady_clock::now() < until) {
          ssize_t r = ::read(fds[0], tmp, sizeof tmp);
          if (r > 0) buf.append(tmp, r);
          else if (r == 0) break;
          else std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (mode != 0 && buf.find("ACK") != std::string::npos && timeout_ms > 5000) break;
        }
      };
      if (mode == 0) {
        read_some(static_cast<int>(rng() % 400));  // maybe before the first batch
      } else {
        read_some(20000);                           // until the first ACK
        read_some(static_cast<int>(rng() % 250));   // then somewhere in the run
      }
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      ::fcntl(fds[0], F_SETFL, 0);
      char tmp[4096];
      ssize_t r;
      while ((r = ::read(fds[0], tmp, sizeof tmp)) > 0) buf.append(tmp, r);
      ::close(fds[0]);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++killed_mid_run;
      std::istringstream lines(buf);
      std::string line;
      while (std::getline(lines, line))  // gtest's own output is mixed in; only whole ACK lines count
        if (line.rfind("ACK ", 0) == 0 && lines.good()) acked = std::max<int64_t>(acked, std::stoll(line.substr(4)));
    }
    // Reopen: every acknowledged batch is there, no half batch, index == RocksDB.
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    auto info = db->GetCollectionInfo("c");
    ASSERT_TRUE(info.ok());
    const int64_t items = info->items;
    if (acked > 0) ++trials_with_acks;
    if (items > acked * kCrashBatch) ++committed_not_acked;
    ++index_states[info->index_state.substr(0, info->index_state.find(':'))];
    EXPECT_EQ(items % kCrashBatch, 0) << "half a batch stored, trial " << trial;
    EXPECT_GE(items, acked * kCrashBatch) << "acknowledged batch lost, trial " << trial;
    EXPECT_EQ(info->indexed, items) << "index disagrees with RocksDB, trial " << trial;
    const int64_t batches = items / kCrashBatch;
    for (int64_t id = 0; id < batches * kCrashBatch + kCrashBatch; ++id) {
      const bool present = db->Get("c", id).ok();
      EXPECT_EQ(present, id < items) << "id " << id << " trial " << trial;
      if (!present) break;
    }
    if (batches > 0) {
      // Spot-check content: the last batch's stored representations are its latents' encoding,
      // and searching them finds them (the index holds exactly these items).
      const int64_t last = batches - 1;
      auto enc = db->Encode("A", "S", CrashBatchLatents(last), EncoderOptions{4});
      ASSERT_TRUE(enc.ok());
      auto item = db->Get("c", last * kCrashBatch + 3);
      ASSERT_TRUE(item.ok());
      for (int64_t k = 0; k < K; ++k) EXPECT_NEAR(item->representation[k], (*enc)(3, k), 1e-4f);
      auto res = db->SearchRepresentations("c", *enc, 1, {64, 4});
      ASSERT_TRUE(res.ok());
      for (int64_t q = 0; q < kCrashBatch; ++q) {
        EXPECT_GE(res->ids[q], 0);
        EXPECT_LT(res->ids[q], items);
        EXPECT_NEAR(res->scores[q], 1.0f, 1e-4f);
      }
    }
  }
  std::printf("crash test: %d trials, %d child runs ended by SIGKILL, %d trials with acknowledged batches, "
              "%d with a committed batch not yet acknowledged; index on reopen:",
              trials, killed_mid_run, trials_with_acks, committed_not_acked);
  for (const auto& [state, count] : index_states) std::printf(" %s x%d", state.c_str(), count);
  std::printf("\n");
  EXPECT_GE(trials_with_acks, trials / 2);
  EXPECT_GE(killed_mid_run, trials);
}

}  // namespace
}  // namespace relgeo
