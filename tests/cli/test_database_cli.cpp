// The database commands of the relgeo tool (tools/cmd_db.cpp) on the standard
// cross-model setup: register, index, search --json, remove, info, and errors.
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

TEST(DatabaseCli, RegisterIndexSearchJsonRemoveInfoAndErrors) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string t = testing::TempDir(), dir = FreshDir("cli");
  ASSERT_OK(WriteNpyMatrix(t + "/cli_aa.npy", s.anchors_a));
  ASSERT_OK(WriteNpyMatrix(t + "/cli_ab.npy", s.anchors_b));
  ASSERT_OK(WriteNpyMatrix(t + "/cli_za.npy", s.za));
  ASSERT_OK(WriteNpyMatrix(t + "/cli_zb.npy", s.zb.view().RowSlice(0, 5)));
  ASSERT_OK(WriteNpyInt64(t + "/cli_ids.npy", Iota(s.n, 100)));
  ASSERT_OK(WriteNpyInt64(t + "/cli_gone.npy", {100, 101}));
  const std::string a_map = testing::WriteTempFile("cli_a.pt", MlpMapBytes(s.d, s.hidden, s.m, 5));
  const std::string b_map = testing::WriteTempFile("cli_b.pt", MlpMapComposedBytes(s.d, s.hidden, s.m, 5, s.T, s.t));
  std::string out, err;
  const std::string db = " --db " + dir;
  ASSERT_EQ(RunTool("-q anchors create" + db + " --name S --count " + std::to_string(s.K), &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q model register" + db + " --name A --map " + a_map + " --anchor-set S --anchor-latents " + t + "/cli_aa.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q model register" + db + " --name B --map " + b_map + " --anchor-set S --anchor-latents " + t + "/cli_ab.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q collection create" + db + " --name C --anchor-set S --index HNSW16 --steps 6", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q index" + db + " --collection C --model A --latents " + t + "/cli_za.npy --ids " + t + "/cli_ids.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("search" + db + " --collection C --model B --latents " + t + "/cli_zb.npy --k 3 --json", &out, &err), 0) << err;
  // {"results": [{"ids": [...], "scores": [...]}, ...]}: one entry per query row, best first.
  EXPECT_EQ(out.rfind("{\"results\":[{\"ids\":[100,", 0), 0u) << out;
  size_t entries = 0;
  for (size_t p = out.find("\"ids\":[1"); p != std::string::npos; p = out.find("\"ids\":[1", p + 1)) {
    EXPECT_EQ(out.compare(p + 7, 3, std::to_string(100 + entries)), 0) << out;
    ++entries;
  }
  EXPECT_EQ(entries, 5u);
  ASSERT_EQ(RunTool("-q remove" + db + " --collection C --ids " + t + "/cli_gone.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("info" + db + " --json", &out, &err), 0) << err;
  EXPECT_NE(out.find("\"items\": 198"), std::string::npos) << out;
  // Errors: unknown names exit 3, bad input 2, a directory held open 1 — one line each.
  EXPECT_EQ(RunTool("search" + db + " --collection X --model B --latents " + t + "/cli_zb.npy", &out, &err), 3);
  EXPECT_NE(err.find("no collection named 'X'"), std::string::npos) << err;
  EXPECT_EQ(RunTool("model register" + db + " --name Z --map " + a_map + " --anchor-set S --anchor-latents " + t + "/cli_za.npy", &out, &err), 2);
  EXPECT_NE(err.find("anchor latents have 200 rows"), std::string::npos) << err;
  EXPECT_EQ(RunTool("model register" + db + " --name Z --map " + t + "/cli_za.npy", &out, &err), 2);
  EXPECT_NE(err.find("fails to load"), std::string::npos) << err;
  {
    auto held = OpenOrDie(dir);
    ASSERT_TRUE(held);
    EXPECT_EQ(RunTool("info" + db, &out, &err), 1);
    EXPECT_NE(err.find("already open"), std::string::npos) << err;
  }
  EXPECT_EQ(RunTool("info" + db, &out, &err), 0) << err;
}

// Runs the tool through sh with its address space capped at 4 GB and its time at
// 60 s, so that an unbounded allocation or read fails here (it did before the
// limits) instead of taking the machine. stdout goes to `stdout_to` if given.
int RunBounded(const std::string& args, std::string* out, std::string* err, const std::string& stdout_to = "") {
  const std::string o = testing::TempDir() + "/bounded_out.txt", e = testing::TempDir() + "/bounded_err.txt";
  const std::string cmd = "ulimit -v 4000000; timeout 60 " + ToolPath() + " " + args + " >" +
                          (stdout_to.empty() ? o : stdout_to) + " 2>" + e;
  const int rc = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  *out = stdout_to.empty() ? slurp(o) : "";
  *err = slurp(e);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool OneCleanLine(const std::string& s) {
  if (s.empty() || s.back() != '\n') return false;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) < 0x20 || s[i] == 0x7f) return false;
  return true;
}

// Hostile numbers, names and destinations: every limit is a usage error (exit 2)
// naming the flag the user gave, before anything is allocated; control
// characters never reach the terminal raw; failed output writes exit 1; a
// damaged CURRENT exits 4; a directory in place of an index file is an error, not
// an abort.
TEST(DatabaseCli, HostileNumbersNamesAndDestinations) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string t = testing::TempDir(), dir = FreshDir("cli_hostile");
  ASSERT_OK(WriteNpyMatrix(t + "/hostile_aa.npy", s.anchors_a));
  ASSERT_OK(WriteNpyMatrix(t + "/hostile_ab.npy", s.anchors_b));
  ASSERT_OK(WriteNpyMatrix(t + "/hostile_za.npy", s.za));
  ASSERT_OK(WriteNpyMatrix(t + "/hostile_zb.npy", s.zb.view().RowSlice(0, 5)));
  const std::string a_map = testing::WriteTempFile("hostile_a.pt", MlpMapBytes(s.d, s.hidden, s.m, 5));
  const std::string b_map = testing::WriteTempFile("hostile_b.pt", MlpMapComposedBytes(s.d, s.hidden, s.m, 5, s.T, s.t));
  std::string out, err;
  const std::string db = " --db " + dir;
  ASSERT_EQ(RunTool("-q anchors create" + db + " --name S --count " + std::to_string(s.K), &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q model register" + db + " --name A --map " + a_map + " --anchor-set S --anchor-latents " + t + "/hostile_aa.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q model register" + db + " --name B --map " + b_map + " --anchor-set S --anchor-latents " + t + "/hostile_ab.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q collection create" + db + " --name C --anchor-set S --index HNSW16 --steps 4", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q collection create" + db + " --name V --anchor-set S --index IVF4 --steps 4", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q index" + db + " --collection C --model A --latents " + t + "/hostile_za.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q index" + db + " --collection V --model A --latents " + t + "/hostile_za.npy", &out, &err), 0) << err;

  auto usage = [&](const std::string& args, const std::string& needle) {
    const int rc = RunBounded("-q " + args, &out, &err);
    EXPECT_EQ(rc, 2) << args << "\n" << err;
    EXPECT_NE(err.find(needle), std::string::npos) << args << ": the message lacks '" << needle << "': " << err;
    EXPECT_TRUE(OneCleanLine(err)) << args << ": " << err;
  };
  const std::string search = "search" + db + " --model B --latents " + t + "/hostile_zb.npy --k 3 --collection ";
  usage(search + "C --ef 2000000000", "--ef");
  usage(search + "C --ef 0", "--ef");
  usage(search + "C --ef -1", "--ef");
  usage(search + "V --nprobe -1", "--nprobe");
  usage(search + "V --nprobe 0", "--nprobe");
  usage(search + "V --nprobe 5", "nprobe");  // more lists than IVF4 has
  EXPECT_EQ(RunBounded("-q " + search + "C --ef 100000", &out, &err), 0) << err;
  EXPECT_EQ(RunBounded("-q " + search + "V --nprobe 4", &out, &err), 0) << err;
  usage("--threads -4 info" + db, "--threads");
  usage("--threads 1000000 info" + db, "--threads");
  usage("anchors create" + db + " --name big --count 1000000000000", "--count");
  usage("anchors create" + db + " --name big --count 0", "--count");
  usage("model register" + db + " --name Z --map " + a_map + " --latent-dim -1", "--latent-dim");
  usage("model register" + db + " --name Z --map " + a_map + " --latent-dim 2000000000", "--latent-dim");
  usage("model register" + db + " --name Z --map /dev/zero", "not a regular file");
  usage("model register" + db + " --name Z --map " + a_map + " --encoder /dev/zero", "--encoder");
  usage("collection create" + db + " --name D --anchor-set S --steps 0", "--steps");
  usage("collection create" + db + " --name D --anchor-set S --steps 100000", "--steps");
  // Control characters in names and paths come back escaped.
  usage("anchors create" + db + " --name \"$(printf 'a\\033[31mb')\" --count 3", "a\\x1b[31mb");
  EXPECT_EQ(RunBounded("info --db \"$(printf '" + dir + "-gone\\033]0;pwned\\007')\"", &out, &err), 3) << err;
  EXPECT_NE(err.find("\\x1b]0;pwned\\x07"), std::string::npos) << err;
  EXPECT_TRUE(OneCleanLine(err)) << err;
  // A path that is not UTF-8 in JSON output is written with U+FFFD (dump() used to
  // throw, and the tool aborted).
  const std::string odd = dir + "-\xff";
  ASSERT_EQ(RunBounded("-q anchors create --db '" + odd + "' --name S --count 2", &out, &err), 0) << err;
  EXPECT_EQ(RunBounded("info --db '" + odd + "' --json", &out, &err), 0) << err;
  EXPECT_NE(out.find("\"path\": \"" + dir + "-\xef\xbf\xbd\""), std::string::npos) << out;
  // The spec is echoed as stored.
  ASSERT_EQ(RunBounded("collection create" + db + " --name H --anchor-set S --index hnsw016,flat", &out, &err), 0) << err;
  EXPECT_NE(err.find("(HNSW16)"), std::string::npos) << err;
  // Output that cannot be written is a failure (exit 1) naming where.
  EXPECT_EQ(RunBounded("-q " + search + "C --out-ids /dev/full", &out, &err), 1) << err;
  EXPECT_NE(err.find("/dev/full"), std::string::npos) << err;
  EXPECT_EQ(RunBounded("-q " + search + "C --json", &out, &err, "/dev/full"), 1) << err;
  EXPECT_NE(err.find("standard output"), std::string::npos) << err;
  EXPECT_EQ(RunBounded("-q info" + db, &out, &err, "/dev/full"), 1) << err;

  // A damaged CURRENT: corrupt, exit 4, naming the file.
  const std::string copy = FreshDir("cli_hostile_copy");
  fs::copy(dir, copy, fs::copy_options::recursive);
  std::ofstream(copy + "/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  EXPECT_EQ(RunBounded("info --db " + copy, &out, &err), 4) << err;
  EXPECT_NE(err.find(copy + "/CURRENT"), std::string::npos) << err;
  // A directory where an index file belongs: no abort; the items are all there;
  // saving the rebuilt index fails, a warning naming the path; the answer stands: exit 0.
  std::string idx;
  for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) idx = e.path().string();
  ASSERT_FALSE(idx.empty());
  fs::remove(idx);
  fs::create_directories(idx + "/x");
  EXPECT_EQ(RunBounded("info" + db + " --json", &out, &err), 0) << err;
  EXPECT_NE(out.find("\"items\": 200"), std::string::npos) << out;
  EXPECT_NE(err.find("relgeo: warning: "), std::string::npos) << err;
  EXPECT_NE(err.find(idx), std::string::npos) << err;
  EXPECT_TRUE(OneCleanLine(err)) << err;
  fs::remove_all(idx);
  ASSERT_EQ(RunBounded("info" + db + " --json", &out, &err), 0) << err;
  EXPECT_NE(out.find("\"items\": 200"), std::string::npos) << out;
}

}  // namespace
}  // namespace relgeo
