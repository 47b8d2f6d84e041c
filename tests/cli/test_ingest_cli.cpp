// relgeo ingest prepare / encode / commit (tools/cmd_ingest.cpp): a job split into
// parts encoded by separate processes and committed once holds exactly what one
// BulkAdd of the same data holds; a stale job, a bad part or a damaged job
// directory is refused and the collection is untouched (docs/distributed.md).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "database/db_test_util.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

// A database with models A and B (CrossSetup), collections "items" (for the job) and
// "whole" (one BulkAdd of the same rows), and the input files the workers read.
struct IngestCase {
  CrossSetup s;
  std::string dir, job, latents, ids;
  std::vector<int64_t> id;
  explicit IngestCase(const std::string& name) {
    s.n = 97;
    s.za = RandomMatrix(s.n, s.d, 31);
    dir = FreshDir(name);
    job = testing::TempDir() + "/" + name + "_job";
    fs::remove_all(job);
    latents = testing::TempDir() + "/" + name + "_z.npy";
    ids = testing::TempDir() + "/" + name + "_ids.npy";
    id = Iota(s.n, 5000);
    auto db = OpenOrDie(dir);
    s.Register(*db, "Flat", "items");
    EXPECT_OK(db->CreateCollection("whole", CrossSetup::Options()));
    EXPECT_TRUE(db->BulkAdd("whole", "A", id, s.za).ok());
    EXPECT_OK(db->Close());
    EXPECT_OK(WriteNpyMatrix(latents, s.za));
    EXPECT_OK(WriteNpyInt64(ids, id));
  }
  int Tool(const std::string& args, std::string* err) {
    std::string out;
    return RunTool(args, &out, err);
  }
  int Prepare(std::string* err) {
    return Tool("ingest prepare --db " + dir + " --collection items --model A --job " + job, err);
  }
  int EncodePart(int i, int p, std::string* err) {
    return Tool("--threads 1 ingest encode --job " + job + " --latents " + latents + " --ids " + ids + " --part " +
                    std::to_string(i) + "/" + std::to_string(p),
                err);
  }
};

TEST(IngestCli, PartsEncodedApartAndCommittedOnceEqualOneBulkAdd) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  IngestCase c("ingest_parts");
  std::string err;
  ASSERT_EQ(c.Prepare(&err), 0) << err;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(c.EncodePart(i, 3, &err), 0) << err;
  EXPECT_TRUE(fs::exists(c.job + "/part-2.sst"));
  ASSERT_EQ(c.Tool("ingest commit --db " + c.dir + " --job " + c.job, &err), 0) << err;
  EXPECT_NE(err.find("committed 97 items (0 replaced) from 3 files"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(c.job + "/part-0.sst")) << "part files are removed after the ingest";
  auto db = OpenOrDie(c.dir);
  ASSERT_TRUE(db);
  EXPECT_EQ(db->GetCollectionInfo("items")->items, c.s.n);
  for (int64_t id : c.id) {
    auto a = db->Get("items", id), b = db->Get("whole", id);
    ASSERT_TRUE(a.ok() && b.ok()) << id;
    ASSERT_EQ(a->representation.size(), b->representation.size());
    for (size_t k = 0; k < a->representation.size(); ++k)
      ASSERT_NEAR(a->representation[k], b->representation[k], 1e-5f) << "id " << id << " k " << k;
  }
  // The index answers like the BulkAdd collection's: a query by model B finds the
  // same top item in both.
  auto r1 = db->Search("items", "B", MatrixView(c.s.zb.row(0), 4, c.s.d), 3);
  auto r2 = db->Search("whole", "B", MatrixView(c.s.zb.row(0), 4, c.s.d), 3);
  ASSERT_TRUE(r1.ok() && r2.ok());
  for (int64_t q = 0; q < 4; ++q) EXPECT_EQ(r1->row_ids(q)[0], r2->row_ids(q)[0]);
}

TEST(IngestCli, ASecondCommitOfTheSameRowsUpsertsThem) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  IngestCase c("ingest_upsert");
  std::string err;
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(c.Prepare(&err), 0) << err;
    ASSERT_EQ(c.EncodePart(0, 1, &err), 0) << err;
    ASSERT_EQ(c.Tool("ingest commit --db " + c.dir + " --job " + c.job, &err), 0) << err;
  }
  EXPECT_NE(err.find("committed 97 items (97 replaced)"), std::string::npos) << err;
  auto db = OpenOrDie(c.dir);
  EXPECT_EQ(db->GetCollectionInfo("items")->items, c.s.n);
}

TEST(IngestCli, AStaleJobIsRefusedAndAddsNothing) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  IngestCase c("ingest_stale");
  std::string err;
  ASSERT_EQ(c.Prepare(&err), 0) << err;
  ASSERT_EQ(c.EncodePart(0, 1, &err), 0) << err;
  {  // the collection is dropped and made again between prepare and commit
    auto db = OpenOrDie(c.dir);
    ASSERT_OK(db->DropCollection("items"));
    ASSERT_OK(db->CreateCollection("items", CrossSetup::Options()));
    ASSERT_OK(db->Close());
  }
  EXPECT_EQ(c.Tool("ingest commit --db " + c.dir + " --job " + c.job, &err), 1);
  EXPECT_NE(err.find("stale ingest ticket: collection 'items' was dropped or recreated"), std::string::npos) << err;
  EXPECT_TRUE(fs::exists(c.job + "/part-0.sst")) << "a refused commit keeps the parts for a re-run";
  auto db = OpenOrDie(c.dir);
  EXPECT_EQ(db->GetCollectionInfo("items")->items, 0);
}

TEST(IngestCli, BadPartsAndDamagedJobsGetClearErrors) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  IngestCase c("ingest_bad");
  std::string err;
  ASSERT_EQ(c.Prepare(&err), 0) << err;
  EXPECT_EQ(c.EncodePart(3, 3, &err), 2);
  EXPECT_NE(err.find("--part must be I/P"), std::string::npos) << err;
  // Latents of another width than the job's model takes.
  const std::string wide = testing::TempDir() + "/ingest_bad_wide.npy";
  ASSERT_OK(WriteNpyMatrix(wide, RandomMatrix(5, c.s.d + 1, 3)));
  EXPECT_EQ(c.Tool("ingest encode --job " + c.job + " --latents " + wide, &err), 2);
  EXPECT_NE(err.find("the job's model takes d=6"), std::string::npos) << err;
  // Nothing encoded yet: commit has nothing to ingest.
  EXPECT_EQ(c.Tool("ingest commit --db " + c.dir + " --job " + c.job, &err), 2);
  EXPECT_NE(err.find("no part files"), std::string::npos) << err;
  // A job.json that is not one.
  { std::ofstream(c.job + "/job.json") << "{\"format\": \"something else\"}"; }
  EXPECT_EQ(c.EncodePart(0, 1, &err), 4);
  EXPECT_NE(err.find("not a relgeo ingest job"), std::string::npos) << err;
  auto db = OpenOrDie(c.dir);
  EXPECT_EQ(db->GetCollectionInfo("items")->items, 0);
}

}  // namespace
}  // namespace relgeo
