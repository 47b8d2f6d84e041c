// .npy reading and writing (src/util/npy.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "fixtures.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

std::string RawNpy(const std::string& dict, const std::string& payload) {
  std::string h = dict;
  size_t total = 10 + h.size() + 1;
  h += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string s = std::string("\x93NUMPY\x01\x00", 8);
  s += static_cast<char>(h.size() & 0xff);
  s += static_cast<char>(h.size() >> 8);
  return s + h + payload;
}

TEST(Npy, MatrixAndIdsRoundTrip) {
  Matrix m = RandomMatrix(5, 3, 1);
  std::string p = TempDir() + "/m.npy";
  ASSERT_TRUE(WriteNpyMatrix(p, m).ok());
  auto back = ReadNpyMatrix(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rows(), 5);
  EXPECT_EQ(back->cols(), 3);
  EXPECT_EQ(back->storage(), m.storage());
  std::vector<int64_t> ids = {5, -1, 1LL << 40};
  ASSERT_TRUE(WriteNpyInt64(TempDir() + "/ids.npy", ids).ok());
  EXPECT_EQ(*ReadNpyInt64(TempDir() + "/ids.npy"), ids);
}

TEST(Npy, Float64IsConverted) {
  double v[4] = {1.5, -2.25, 3.0, 1e10};
  std::string p = WriteTempFile("f8.npy", RawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                                                 std::string(reinterpret_cast<char*>(v), 32)));
  auto m = ReadNpyMatrix(p);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FLOAT_EQ((*m)(0, 1), -2.25f);
  EXPECT_FLOAT_EQ((*m)(1, 1), 1e10f);
}

TEST(Npy, RejectsWhatItCannotReadFaithfully) {
  float v[4] = {1, 2, 3, 4};
  std::string four(reinterpret_cast<char*>(v), 16);
  auto expect_error = [](const std::string& path, const std::string& needle) {
    auto m = ReadNpyMatrix(path);
    ASSERT_FALSE(m.ok()) << path;
    EXPECT_NE(m.status().message().find(needle), std::string::npos) << m.status().message();
  };
  expect_error(WriteTempFile("fortran.npy", RawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four)),
               "Fortran");
  expect_error(WriteTempFile("int.npy", RawNpy("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 4), }", four)),
               "dtype");
  expect_error(WriteTempFile("trunc.npy", RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", four)),
               "truncated");
  expect_error(WriteTempFile("long.npy", RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", four)),
               "longer");
  expect_error(WriteTempFile("magic.npy", "PK\x03\x04 not numpy"), "magic");
  expect_error(WriteTempFile("3d.npy", RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", four)),
               "2-D");
  expect_error(TempDir() + "/nope.npy", "cannot open");
  EXPECT_FALSE(ReadNpyInt64(WriteTempFile("fids.npy", RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four))).ok());
}

}  // namespace
}  // namespace relgeo
