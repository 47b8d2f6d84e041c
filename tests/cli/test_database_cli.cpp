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

}  // namespace
}  // namespace relgeo
