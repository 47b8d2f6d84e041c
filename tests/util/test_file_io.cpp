// Whole-file reads and all-or-nothing writes (include/relgeo/file_io.h,
// src/util/file_io.cpp); the .npy writer's failures are in test_npy.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fixtures.h"
#include "relgeo/file_io.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
namespace fs = std::filesystem;
using namespace relgeo::testing;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string FreshDir(const std::string& name) {
  const std::string d = TempDir() + "/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(ReadFileBytes, OnlyRegularFilesOfBoundedSize) {
  const std::string d = FreshDir("read_bytes");
  std::ofstream(d + "/f", std::ios::binary) << "hello";
  auto ok = ReadFileBytes(d + "/f", 5);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, "hello");
  auto big = ReadFileBytes(d + "/f", 4);
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("5 bytes"), std::string::npos) << big.status().message();
  EXPECT_EQ(ReadFileBytes(d + "/missing", 10).status().code(), StatusCode::kNotFound);
  for (const std::string& p : {d, std::string("/dev/zero")}) {
    auto r = ReadFileBytes(p, 10);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << p;
    EXPECT_NE(r.status().message().find(p + " is not a regular file"), std::string::npos) << r.status().message();
  }
  // A FIFO with no writer: refused, not waited on.
  ASSERT_EQ(::mkfifo((d + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(ReadFileBytes(d + "/fifo", 10).status().code(), StatusCode::kInvalidArgument);
  // The .npy reader refuses them the same way.
  for (const std::string& p : {d, std::string("/dev/zero"), d + "/fifo"}) {
    auto m = ReadNpyMatrix(p);
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << p << ": " << m.status().ToString();
    EXPECT_NE(m.status().message().find("not a regular file"), std::string::npos) << m.status().message();
  }
}

TEST(WriteFileAtomically, ReplacesWholeFilesKeepsModesAndFollowsLinks) {
  const std::string d = FreshDir("write_atomic");
  const std::string f = d + "/f";
  ASSERT_TRUE(WriteFileAtomically(f, {"ab", "", "cd"}).ok());
  EXPECT_EQ(Slurp(f), "abcd");
  ::chmod(f.c_str(), 0640);
  ASSERT_TRUE(WriteFileAtomically(f, {"xyz"}).ok());
  EXPECT_EQ(Slurp(f), "xyz");
  EXPECT_EQ(static_cast<int>(fs::status(f).permissions()) & 0777, 0640);
  // Through a symbolic link the target is replaced and the link stays a link.
  fs::create_symlink(f, d + "/link");
  ASSERT_TRUE(WriteFileAtomically(d + "/link", {"via link"}).ok());
  EXPECT_TRUE(fs::is_symlink(d + "/link"));
  EXPECT_EQ(Slurp(f), "via link");
  // Devices are written in place.
  EXPECT_TRUE(WriteFileAtomically("/dev/null", {"gone"}).ok());
  const Status full = WriteFileAtomically("/dev/full", {"x"});
  EXPECT_EQ(full.code(), StatusCode::kIOError);
  EXPECT_NE(full.message().find("No space left on device"), std::string::npos) << full.message();
  // A directory in the way, a missing parent: IOError naming the path, nothing created.
  const Status dir = WriteFileAtomically(d, {"x"});
  EXPECT_EQ(dir.code(), StatusCode::kIOError);
  EXPECT_NE(dir.message().find(d), std::string::npos) << dir.message();
  EXPECT_EQ(WriteFileAtomically(d + "/no/such/f", {"x"}).code(), StatusCode::kIOError);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"f", "link"}));
}

}  // namespace
}  // namespace relgeo
