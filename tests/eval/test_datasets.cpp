// The IDX / Fashion-MNIST loader (src/data/datasets.cpp): round trip, the seeded
// split, corrupt and truncated files, the installed files when present.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>


#include "fixtures.h"
#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/autoencoder.h"
#include "relgeo/datasets.h"
#include "relgeo/sweep.h"
#include "relgeo/metric_map.h"
#include "relgeo/mrr.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

// ---------------------------------------------------------------- IDX / Fashion-MNIST

std::string Gzip(const std::string& raw) {
  uLongf n = compressBound(raw.size()) + 64;
  std::string out(n, '\0');
  // gzip wrapper via deflateInit2 (windowBits 31).
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string IdxHeader(uint8_t ndims, const std::vector<uint32_t>& dims, uint8_t type = 0x08) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(ndims)};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((d >> s) & 0xff));
  return h;
}

IdxArray Images(int64_t n, uint64_t seed) {
  IdxArray a;
  a.dims = {n, 28, 28};
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n * 784; ++i) a.data.push_back(static_cast<uint8_t>(rng() & 0xff));
  return a;
}
IdxArray Labels(int64_t n) {
  IdxArray a;
  a.dims = {n};
  for (int64_t i = 0; i < n; ++i) a.data.push_back(static_cast<uint8_t>(i % 10));
  return a;
}

TEST(Idx, RoundTripAndFashionMnistSplit) {
  const std::string dir = TempDir() + "/fmnist";
  std::filesystem::create_directories(dir);
  IdxArray tr = Images(50, 1), te = Images(20, 2);
  ASSERT_TRUE(WriteIdxGz(dir + "/train-images-idx3-ubyte.gz", tr).ok());
  ASSERT_TRUE(WriteIdxGz(dir + "/train-labels-idx1-ubyte.gz", Labels(50)).ok());
  ASSERT_TRUE(WriteIdxGz(dir + "/t10k-images-idx3-ubyte.gz", te).ok());
  ASSERT_TRUE(WriteIdxGz(dir + "/t10k-labels-idx1-ubyte.gz", Labels(20)).ok());
  auto back = ReadIdx(dir + "/train-images-idx3-ubyte.gz", 3);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->dims, tr.dims);
  EXPECT_EQ(back->data, tr.data);

  FashionMnistOptions o;
  o.dir = dir;
  o.split_seed = 4;
  auto train = LoadFashionMnist(DataSplit::kTrain, o), val = LoadFashionMnist(DataSplit::kVal, o);
  auto test = LoadFashionMnist(DataSplit::kTest, o), full = LoadFashionMnist(DataSplit::kTrainFull, o);
  ASSERT_TRUE(train.ok() && val.ok() && test.ok() && full.ok()) << train.status().ToString();
  EXPECT_EQ(train->size(), 45);
  EXPECT_EQ(val->size(), 5);
  EXPECT_EQ(test->size(), 20);
  EXPECT_EQ(full->size(), 50);
  std::set<int64_t> all(train->indices.begin(), train->indices.end());
  all.insert(val->indices.begin(), val->indices.end());
  EXPECT_EQ(all.size(), 50u);  // disjoint and complete
  // Rows carry their original pixels and labels.
  const int64_t v0 = val->indices[0];
  EXPECT_EQ(val->labels[0], v0 % 10);
  EXPECT_TRUE(std::equal(val->pixels.begin(), val->pixels.begin() + 784, tr.data.begin() + v0 * 784));
  Matrix m = val->ToMatrix();
  EXPECT_FLOAT_EQ(m(0, 5), tr.data[v0 * 784 + 5] / 255.0f);
  // Seeded: same seed, same split; another seed, another split.
  auto val2 = LoadFashionMnist(DataSplit::kVal, o);
  EXPECT_EQ(val2->indices, val->indices);
  o.split_seed = 5;
  EXPECT_NE(LoadFashionMnist(DataSplit::kVal, o)->indices, val->indices);
  o.limit = 7;
  EXPECT_EQ(LoadFashionMnist(DataSplit::kTrain, o)->size(), 7);
}

TEST(Idx, CorruptAndTruncatedFilesAreRejected) {
  const std::string d = TempDir();
  auto expect_corrupt = [&](const std::string& name, const std::string& bytes, int rank = 0) {
    const std::string p = WriteTempFile(name, bytes);
    auto r = ReadIdx(p, rank);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << name << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(p), std::string::npos) << "message names the file";
  };
  std::string payload(3 * 4 * 4, '\x07');
  expect_corrupt("bad_magic.gz", Gzip(std::string("\x01\x02\x08\x03", 4) + payload));
  expect_corrupt("bad_type.gz", Gzip(IdxHeader(3, {3, 4, 4}, 0x0D) + payload));
  expect_corrupt("truncated_data.gz", Gzip(IdxHeader(3, {3, 4, 4}) + payload.substr(0, 40)));
  expect_corrupt("truncated_header.gz", Gzip(IdxHeader(3, {3, 4, 4}).substr(0, 9)));
  expect_corrupt("trailing.gz", Gzip(IdxHeader(3, {3, 4, 4}) + payload + "xx"));
  expect_corrupt("zero_dim.gz", Gzip(IdxHeader(3, {3, 0, 4})));
  expect_corrupt("wrong_rank.gz", Gzip(IdxHeader(3, {3, 4, 4}) + payload), 1);
  // A gzip stream cut in half (the way a partial download looks).
  IdxArray big = Images(40, 9);
  const std::string full = TempDir() + "/full.gz";
  ASSERT_TRUE(WriteIdxGz(full, big).ok());
  std::ifstream in(full, std::ios::binary);
  std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  expect_corrupt("cut.gz", gz.substr(0, gz.size() / 2));
  // Damaged bytes in the middle of the compressed stream.
  std::string flipped = gz;
  for (size_t i = gz.size() / 3; i < gz.size() / 3 + 64; ++i) flipped[i] = static_cast<char>(~flipped[i]);
  expect_corrupt("flipped.gz", flipped);
  // Uncompressed IDX is read too (gzread is transparent), and validated the same way.
  EXPECT_TRUE(ReadIdx(WriteTempFile("plain.idx", IdxHeader(3, {3, 4, 4}) + payload)).ok());
  auto missing = ReadIdx(d + "/nope.gz");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // Images and labels that disagree, labels out of range.
  ASSERT_TRUE(WriteIdxGz(d + "/im.gz", Images(6, 1)).ok());
  ASSERT_TRUE(WriteIdxGz(d + "/lb5.gz", Labels(5)).ok());
  EXPECT_EQ(LoadIdxDataset(d + "/im.gz", d + "/lb5.gz").status().code(), StatusCode::kCorruption);
  IdxArray bad = Labels(6);
  bad.data[3] = 12;
  ASSERT_TRUE(WriteIdxGz(d + "/lb_bad.gz", bad).ok());
  EXPECT_EQ(LoadIdxDataset(d + "/im.gz", d + "/lb_bad.gz", 10).status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(LoadIdxDataset(d + "/im.gz", d + "/lb_bad.gz", 0).ok());
}

// Header sizes are outside bytes (found by fuzz/idx_fuzzer.cpp): two dimensions near
// 2^32 overflowed int64 (and then threw from vector::resize), and a 20-byte file
// claiming 1 GiB made the reader allocate and zero all of it before reading.
TEST(Idx, HeaderSizesDoNotOverflowOrAllocateAhead) {
  auto r = ReadIdx(WriteTempFile("huge_dims.idx", IdxHeader(2, {0xFFFFFFFFu, 0xFFFFFFFFu}) + "abcd"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("more than 4 GiB"), std::string::npos) << r.status().ToString();
  r = ReadIdx(WriteTempFile("huge_dims4.idx", IdxHeader(4, {65536, 65536, 65536, 65536}) + "abcd"));
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  // 1 GiB promised, 8 bytes present: read in a child, whose peak memory is measured.
  const std::string p = WriteTempFile("claims_1gib.idx", IdxHeader(2, {65536, 16384}) + std::string(8, '\1'));
  long rss_pages = 0, vm_pages = 0;
  {
    std::ifstream statm("/proc/self/statm");
    statm >> vm_pages >> rss_pages;
  }
  const long rss_kb = rss_pages * (sysconf(_SC_PAGESIZE) / 1024);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto c = ReadIdx(p, 0);
    _exit(!c.ok() && c.status().code() == StatusCode::kCorruption &&
                  c.status().message().find("truncated IDX data") != std::string::npos
              ? 0
              : 1);
  }
  int status = 0;
  struct rusage ru {};
  ASSERT_EQ(wait4(pid, &status, 0, &ru), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the read did not fail as truncated";
  EXPECT_LT(ru.ru_maxrss, rss_kb + 256 * 1024) << "peak KiB of the child; the parent had " << rss_kb;
}

TEST(FashionMnist, RealFilesWhenInstalled) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto test = LoadFashionMnist(DataSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(test->height, 28);
  std::set<int64_t> classes(test->labels.begin(), test->labels.end());
  EXPECT_EQ(classes.size(), 10u);
}

}  // namespace
}  // namespace relgeo
