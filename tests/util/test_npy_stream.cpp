// Streaming .npy access (src/util/npy_stream.cpp): NpyReader and NpyMatrixWriter.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "fixtures.h"
#include "relgeo/file_io.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

int64_t FileSize(const std::string& p) { return static_cast<int64_t>(std::filesystem::file_size(p)); }

// Every chunk size from 1 to past the row count, the last chunk partial or not:
// the rows come back in order, exactly the whole-file reader's.
TEST(NpyReader, EveryChunkSizeGivesTheWholeFile) {
  const Matrix m = RandomMatrix(23, 5, 7);
  const std::string p = TempDir() + "/stream.npy";
  ASSERT_TRUE(WriteNpyMatrix(p, m).ok());
  for (int64_t chunk = 1; chunk <= 25; ++chunk) {
    auto r = NpyReader::Open(p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->rows(), 23);
    EXPECT_EQ((*r)->cols(), 5);
    std::vector<float> all;
    Matrix block;
    int64_t blocks = 0;
    while (true) {
      auto n = (*r)->ReadRows(chunk, &block);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) break;
      ++blocks;
      EXPECT_EQ(block.rows(), *n);
      EXPECT_EQ(*n, std::min<int64_t>(chunk, 23 - static_cast<int64_t>(all.size()) / 5));
      all.insert(all.end(), block.data(), block.data() + block.size());
    }
    EXPECT_EQ(blocks, (23 + chunk - 1) / chunk) << "chunk " << chunk;
    EXPECT_EQ(all, m.storage()) << "chunk " << chunk;
    EXPECT_EQ((*r)->position(), 23);
  }
}

TEST(NpyReader, Float64AndSeek) {
  double v[6] = {1.5, -2.25, 3.0, 1e10, 7, 8};
  const std::string head = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
  std::string h = head + std::string((64 - (10 + head.size() + 1) % 64) % 64, ' ') + "\n";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size()) + '\0' + h +
                      std::string(reinterpret_cast<char*>(v), sizeof v);
  const std::string p = WriteTempFile("stream_f8.npy", bytes);
  auto r = NpyReader::Open(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE((*r)->Seek(1).ok());
  Matrix block;
  ASSERT_EQ(*(*r)->ReadRows(10, &block), 2);
  EXPECT_FLOAT_EQ(block(0, 1), 1e10f);
  EXPECT_FLOAT_EQ(block(1, 0), 7.0f);
  EXPECT_FALSE((*r)->Seek(4).ok());
  EXPECT_FALSE((*r)->ReadRows(0, &block).ok());
}

TEST(NpyReader, IdsInBlocks) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 10; ++i) ids.push_back(i * 1000 - 3);
  const std::string p = TempDir() + "/stream_ids.npy";
  ASSERT_TRUE(WriteNpyInt64(p, ids).ok());
  auto r = NpyReader::Open(p, NpyReader::Kind::kIds);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<int64_t> all, block;
  while (*(*r)->ReadIds(3, &block) > 0) all.insert(all.end(), block.begin(), block.end());
  EXPECT_EQ(all, ids);
  // A float file is not ids, and the other way round.
  EXPECT_EQ(NpyReader::Open(p).status().code(), StatusCode::kInvalidArgument);
}

// The header is checked once at Open, as the whole-file reader checks it: a file
// shorter than its shape says is Corruption naming the file.
TEST(NpyReader, TruncatedFileIsAClearErrorAtOpen) {
  const std::string p = TempDir() + "/stream_trunc.npy";
  ASSERT_TRUE(WriteNpyMatrix(p, RandomMatrix(10, 4, 1)).ok());
  ASSERT_EQ(::truncate(p.c_str(), FileSize(p) - 8), 0);
  auto r = NpyReader::Open(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
}

// A file cut short while it is being streamed: the block that runs past the end is
// Corruption naming the file and the rows; the blocks before it were good.
TEST(NpyReader, FileTruncatedWhileStreamingIsAClearError) {
  const std::string p = TempDir() + "/stream_trunc2.npy";
  ASSERT_TRUE(WriteNpyMatrix(p, RandomMatrix(10, 4, 1)).ok());
  auto r = NpyReader::Open(p);
  ASSERT_TRUE(r.ok());
  Matrix block;
  ASSERT_EQ(*(*r)->ReadRows(4, &block), 4);
  ASSERT_EQ(::truncate(p.c_str(), (*r)->data_offset() + 6 * 16), 0);  // rows 0..5 left
  auto n = (*r)->ReadRows(4, &block);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kCorruption);
  EXPECT_NE(n.status().message().find(p), std::string::npos) << n.status().message();
  EXPECT_NE(n.status().message().find("rows 4..7"), std::string::npos) << n.status().message();
}

TEST(NpyReader, RefusesWhatTheWholeFileReaderRefuses) {
  EXPECT_EQ(NpyReader::Open(TempDir() + "/no-such.npy").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(NpyReader::Open(TempDir()).status().code(), StatusCode::kInvalidArgument);  // a directory
  EXPECT_EQ(NpyReader::Open("/dev/zero").status().code(), StatusCode::kInvalidArgument);
  const std::string bad = WriteTempFile("stream_bad.npy", "not a numpy file at all");
  EXPECT_EQ(NpyReader::Open(bad).status().code(), StatusCode::kCorruption);
}

// Blocks appended one by one make the file WriteNpyMatrix writes, byte for byte.
TEST(NpyMatrixWriter, BlocksMakeTheSameFileAsAWholeWrite) {
  const Matrix m = RandomMatrix(17, 3, 2);
  const std::string whole = TempDir() + "/w_whole.npy", blocks = TempDir() + "/w_blocks.npy";
  ASSERT_TRUE(WriteNpyMatrix(whole, m).ok());
  auto w = NpyMatrixWriter::Create(blocks, 17, 3);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (int64_t r = 0; r < 17; r += 5) ASSERT_TRUE((*w)->Append(m.view().RowSlice(r, std::min<int64_t>(5, 17 - r))).ok());
  EXPECT_FALSE(std::filesystem::exists(blocks));  // nothing under the final name before Commit
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ(*ReadFileBytes(blocks, 1 << 20), *ReadFileBytes(whole, 1 << 20));
}

// All or nothing: too few rows do not commit, a writer dropped before Commit leaves
// the old file and no temporary beside it, a block that overflows is refused.
TEST(NpyMatrixWriter, IncompleteOrAbandonedOutputLeavesTheOldFile) {
  const std::string dir = TempDir() + "/w_abandon";
  std::filesystem::create_directories(dir);
  const std::string p = dir + "/out.npy";
  ASSERT_TRUE(WriteFileAtomically(p, {"old"}).ok());
  const Matrix m = RandomMatrix(4, 2, 3);
  {
    auto w = NpyMatrixWriter::Create(p, 4, 2);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(m.view().RowSlice(0, 3)).ok());
    EXPECT_EQ((*w)->Append(m.view()).code(), StatusCode::kInvalidArgument);  // 3 + 4 > 4 rows
    EXPECT_FALSE((*w)->Commit().ok());
  }
  EXPECT_EQ(*ReadFileBytes(p, 100), "old");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) entries += e.path() != p;
  EXPECT_EQ(entries, 0) << "a temporary file was left behind";
}

TEST(NpyMatrixWriter, FullDiskIsAnErrorNamingTheFile) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto w = NpyMatrixWriter::Create("/dev/full", 2, 2);
  Status s = w.ok() ? (*w)->Append(RandomMatrix(2, 2, 1)) : w.status();
  if (s.ok()) s = (*w)->Commit();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("/dev/full"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace relgeo
