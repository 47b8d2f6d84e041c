// Streaming and resumable commands of the relgeo tool: `relgeo index` and `relgeo
// encode` read their input a block at a time (tools/npy_input.cpp, NpyReader) and
// give what the whole-file path gives; an index killed mid-way and re-run ends with
// the same items and skips the batches that landed (docs/database.md "Resumable
// bulk index"); --batch is bounded.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "database/db_test_util.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

// Every item of `collection` with ids in `ids`: id -> representation (and model).
std::map<int64_t, std::vector<float>> Items(Database& db, const std::string& collection, const std::vector<int64_t>& ids) {
  std::map<int64_t, std::vector<float>> out;
  for (int64_t id : ids) {
    auto it = db.Get(collection, id);
    if (it.ok()) out[id] = it->representation;
  }
  return out;
}

void ExpectSameItems(const std::map<int64_t, std::vector<float>>& a, const std::map<int64_t, std::vector<float>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto& [id, rep] : a) {
    auto it = b.find(id);
    ASSERT_NE(it, b.end()) << "id " << id;
    ASSERT_EQ(rep.size(), it->second.size());
    for (size_t k = 0; k < rep.size(); ++k) ASSERT_NEAR(rep[k], it->second[k], 1e-5f) << "id " << id << " k " << k;
  }
}

// A latents file 23x larger than --batch, with ids, indexed by the tool in blocks,
// holds exactly what BulkAdd of the whole in-memory matrix gives.
TEST(StreamingCli, IndexInBlocksMatchesTheWholeFilePath) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  s.n = 161;
  s.za = RandomMatrix(s.n, s.d, 21);
  const std::string t = testing::TempDir(), dir = FreshDir("stream_index");
  const std::vector<int64_t> ids = Iota(s.n, 1000);
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db, "Flat", "items");
    ASSERT_OK(db->CreateCollection("whole", CrossSetup::Options()));
    ASSERT_TRUE(db->BulkAdd("whole", "A", ids, s.za).ok());
    ASSERT_OK(db->Close());
  }
  ASSERT_OK(WriteNpyMatrix(t + "/stream_za.npy", s.za));
  ASSERT_OK(WriteNpyInt64(t + "/stream_ids.npy", ids));
  std::string out, err;
  ASSERT_EQ(RunTool("index --db " + dir + " --collection items --model A --latents " + t + "/stream_za.npy --ids " + t +
                        "/stream_ids.npy --batch 7",
                    &out, &err),
            0)
      << err;
  EXPECT_NE(err.find("indexed 161 items"), std::string::npos) << err;
  EXPECT_EQ(err.find("resumed"), std::string::npos) << err;
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  auto streamed = Items(*db, "items", ids), whole = Items(*db, "whole", ids);
  EXPECT_EQ(streamed.size(), 161u);
  ExpectSameItems(streamed, whole);
  // The index agrees with the items: every item finds itself first.
  auto r = db->SearchRepresentations("items", Matrix(1, s.K, whole.at(1050)), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->row_ids(0)[0], 1050);
}

// encode reads its latents in blocks and appends the representations to the
// output: the same as encoding the whole matrix at once, for both methods.
TEST(StreamingCli, EncodeInBlocksMatchesTheWholeMatrix) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const int64_t n = 1000;  // about four of encode's 256-row blocks, the last partial
  const Matrix z = RandomMatrix(n, s.d, 31);
  const std::string t = testing::TempDir();
  ASSERT_OK(WriteNpyMatrix(t + "/enc_z.npy", z));
  ASSERT_OK(WriteNpyMatrix(t + "/enc_a.npy", s.anchors_a));
  const std::string map = testing::WriteTempFile("enc_map.pt", MlpMapBytes(s.d, s.hidden, s.m, 5));
  std::string out, err;
  ASSERT_EQ(RunTool("-q encode --map " + map + " --anchor-latents " + t + "/enc_a.npy --latents " + t +
                        "/enc_z.npy --out " + t + "/enc_r.npy --steps 6",
                    &out, &err),
            0)
      << err;
  auto mm = MetricMap::Load(map, {});
  ASSERT_TRUE(mm.ok()) << mm.status().ToString();
  EncoderOptions eo;
  eo.steps = 6;
  auto enc = RelativeEncoder::Create(*mm, s.anchors_a, eo);
  ASSERT_TRUE(enc.ok());
  auto want = (*enc)->Encode(z);
  ASSERT_TRUE(want.ok());
  auto got = ReadNpyMatrix(t + "/enc_r.npy");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->rows(), n);
  ASSERT_EQ(got->cols(), s.K);
  for (int64_t i = 0; i < got->size(); ++i) ASSERT_NEAR(got->data()[i], want->data()[i], 1e-5f) << i;
  ASSERT_EQ(RunTool("-q encode --method cosine --anchor-latents " + t + "/enc_a.npy --latents " + t +
                        "/enc_z.npy --out " + t + "/enc_c.npy",
                    &out, &err),
            0)
      << err;
  auto cos_want = CosineEncoder::Create(s.anchors_a)->Encode(z);
  auto cos_got = ReadNpyMatrix(t + "/enc_c.npy");
  ASSERT_TRUE(cos_got.ok());
  EXPECT_EQ(cos_got->storage(), cos_want->storage());
  // A bad row past the first block: the error names the rows, and --out is not written.
  Matrix bad = z;
  bad(700, 2) = std::nanf("");
  ASSERT_OK(WriteNpyMatrix(t + "/enc_bad.npy", bad));
  EXPECT_EQ(RunTool("encode --map " + map + " --anchor-latents " + t + "/enc_a.npy --latents " + t +
                        "/enc_bad.npy --out " + t + "/enc_bad_r.npy",
                    &out, &err),
            2);
  EXPECT_NE(err.find("rows 512..767"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(t + "/enc_bad_r.npy"));
}

// --inputs streams too: raw rows go through the model's stored encoder a batch at a
// time, and give what indexing the encoder's latents does.
TEST(StreamingCli, IndexInputsInBlocksThroughTheStoredEncoder) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const int64_t D = 9, n = 75;
  const Matrix W = RandomMatrix(s.d, D, 51);  // latent = x W^T + b
  std::vector<float> b(s.d, 0.1f);
  const Matrix x = RandomMatrix(n, D, 52);
  const std::string t = testing::TempDir(), dir = FreshDir("stream_inputs");
  Matrix z(n, s.d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < s.d; ++r) {
      double acc = b[r];
      for (int64_t j = 0; j < D; ++j) acc += double(W(r, j)) * x(i, j);
      z(i, r) = static_cast<float>(acc);
    }
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    ASSERT_OK(db->CreateAnchorSet("S", Iota(s.K)));
    ModelSpec a;
    a.name = "A";
    a.map_bytes = MlpMapBytes(s.d, s.hidden, s.m, 5);
    a.encoder_bytes = AffineMapBytes(W, b);
    a.anchor_set = "S";
    a.anchor_latents = s.anchors_a;
    ASSERT_OK(db->RegisterModel(a));
    const CollectionOptions co = CrossSetup::Options();
    ASSERT_OK(db->CreateCollection("items", co));
    ASSERT_OK(db->CreateCollection("latents", co));
    ASSERT_TRUE(db->BulkAdd("latents", "A", {}, z).ok());
    ASSERT_OK(db->Close());
  }
  ASSERT_OK(WriteNpyMatrix(t + "/stream_x.npy", x));
  std::string out, err;
  ASSERT_EQ(RunTool("-q index --db " + dir + " --collection items --model A --inputs " + t + "/stream_x.npy --batch 8", &out,
                    &err),
            0)
      << err;
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  const std::vector<int64_t> ids = Iota(n);
  auto a = Items(*db, "items", ids), want = Items(*db, "latents", ids);
  EXPECT_EQ(a.size(), static_cast<size_t>(n));
  ExpectSameItems(a, want);
}

// Starts `relgeo args` with stderr on a pipe, reads its progress lines
// ("index: D/N items ...") and SIGKILLs it once D >= kill_after. Returns the last
// count seen, or -1 if the child ended by itself.
int64_t RunAndKill(const std::string& args, int64_t kill_after) {
  int fds[2];
  if (::pipe(fds) != 0) return -2;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    ::setenv("RELGEO_PROGRESS_INTERVAL", "0", 1);
    const std::string cmd = "exec " + ToolPath() + " " + args + " >/dev/null";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  FILE* in = ::fdopen(fds[0], "r");
  char line[512];
  int64_t seen = -1;
  bool killed = false;
  while (std::fgets(line, sizeof line, in)) {
    long long done = 0, total = 0;
    if (std::sscanf(line, "index: %lld/%lld", &done, &total) == 2 && done >= kill_after) {
      ::kill(pid, SIGKILL);
      killed = true;
      seen = done;
      break;
    }
  }
  std::fclose(in);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? seen : -1;
}

// relgeo index killed with SIGKILL mid-way and re-run with the same input: the
// re-run skips the batches that landed, says so, and the collection ends with
// exactly the items and representations of an uninterrupted run.
TEST(StreamingCli, IndexKilledMidwayResumesWhereItStopped) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  s.n = 3000;  // 300 batches of 10, ~10 ms each here: the kill lands well before the end
  s.za = RandomMatrix(s.n, s.d, 41);
  const std::string t = testing::TempDir(), killed_dir = FreshDir("resume_killed"), clean_dir = FreshDir("resume_clean");
  for (const std::string& dir : {killed_dir, clean_dir}) {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db, "Flat", "items");
    ASSERT_OK(db->Close());
  }
  ASSERT_OK(WriteNpyMatrix(t + "/resume_za.npy", s.za));
  const std::string args = " --collection items --model A --latents " + t + "/resume_za.npy --batch 10";
  const int64_t seen = RunAndKill("index --db " + killed_dir + args, 100);
  ASSERT_GE(seen, 100) << "the child finished before it could be killed";
  std::string out, err;
  ASSERT_EQ(RunTool("index --db " + killed_dir + args, &out, &err), 0) << err;
  long long skipped_batches = 0, skipped_items = 0;
  const size_t at = err.find("resumed: skipped ");
  ASSERT_NE(at, std::string::npos) << err;
  ASSERT_EQ(std::sscanf(err.c_str() + at, "resumed: skipped %lld batches (%lld items)", &skipped_batches, &skipped_items), 2)
      << err;
  // At least every batch the killed run reported; whole batches; not all of them.
  EXPECT_GE(skipped_items, seen);
  EXPECT_EQ(skipped_items, skipped_batches * 10);
  EXPECT_LT(skipped_items, s.n);
  EXPECT_NE(err.find("indexed " + std::to_string(s.n - skipped_items) + " items"), std::string::npos) << err;
  ASSERT_EQ(RunTool("-q index --db " + clean_dir + args, &out, &err), 0) << err;
  auto killed = OpenOrDie(killed_dir), clean = OpenOrDie(clean_dir);
  ASSERT_TRUE(killed && clean);
  EXPECT_EQ(killed->GetCollectionInfo("items")->items, s.n);
  const std::vector<int64_t> ids = Iota(s.n + 5, -5);
  auto a = Items(*killed, "items", ids), b = Items(*clean, "items", ids);
  EXPECT_EQ(a.size(), static_cast<size_t>(s.n));
  ExpectSameItems(a, b);
  // Finished: the ingest record is gone, so a third run indexes everything again (upsert).
  killed.reset();
  ASSERT_EQ(RunTool("index --db " + killed_dir + args, &out, &err), 0) << err;
  EXPECT_EQ(err.find("resumed"), std::string::npos) << err;
  EXPECT_NE(err.find("indexed 3000 items"), std::string::npos) << err;
}

// --batch is bounded: 0 and more than kMaxBulkBatch are usage errors naming the flag.
TEST(StreamingCli, BatchIsBounded) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  const std::string t = testing::TempDir(), dir = FreshDir("batch_bounds");
  ASSERT_OK(WriteNpyMatrix(t + "/bounds_z.npy", RandomMatrix(3, 2, 1)));
  std::string out, err;
  for (const std::string& b : {std::string("0"), std::string("-4"), std::to_string(kMaxBulkBatch + 1)}) {
    EXPECT_EQ(RunTool("index --db " + dir + " --collection C --model A --latents " + t + "/bounds_z.npy --batch " + b, &out,
                      &err),
              2)
        << b;
    EXPECT_NE(err.find("--batch must be in [1, " + std::to_string(kMaxBulkBatch) + "]"), std::string::npos) << err;
  }
  EXPECT_FALSE(fs::exists(dir));  // refused before the database was opened
}

}  // namespace
}  // namespace relgeo
