// .npy reading and writing (src/util/npy.cpp).
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "fixtures.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"
#include "util/npy_internal.h"

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

std::string Floats(int n) { return std::string(static_cast<size_t>(n) * 4, '\0'); }

// The .npy prefix (magic, version, header length) in front of an arbitrary header text.
std::string RawHeader(int major, uint32_t header_len, const std::string& header) {
  std::string s = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  s += static_cast<char>(header_len & 0xff);
  s += static_cast<char>((header_len >> 8) & 0xff);
  if (major >= 2) {
    s += static_cast<char>((header_len >> 16) & 0xff);
    s += static_cast<char>(header_len >> 24);
  }
  return s + header;
}

// Caps this process's address space at its current size plus `extra` bytes.
void LimitAddressSpaceGrowth(long long extra) {
  long long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  const long long cap = pages * sysconf(_SC_PAGESIZE) + extra;
  rlimit rl{static_cast<rlim_t>(cap), static_cast<rlim_t>(cap)};
  setrlimit(RLIMIT_AS, &rl);
}

struct Hostile {
  const char* name;
  std::string descr;
  std::string shape;
  int payload_bytes;
  bool ids;  // ReadNpyInt64 rather than ReadNpyMatrix
};

// Shapes whose element or byte count overflows 64 bits, or that promise far more
// data than the file holds. Each must fail with a clear Corruption before anything
// the size of the claim is allocated. The reads run first in a child process whose
// address space may grow by only 512 MiB (a reader that allocates first dies there
// with bad_alloc instead of zero-filling gigabytes here), and only then here, to
// check the messages.
TEST(NpyDeathTest, HostileShapesFailBeforeAnythingIsAllocated) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string huge(99, '9');
  const std::vector<Hostile> cases = {
      // 4611686018427387909 * 4 wraps to 20 values: 80 bytes of payload "match".
      {"wrap20", "<f4", "(4611686018427387909, 4)", 80, false},
      // 2^62 * 4 wraps to 0 values: an empty payload "matches".
      {"wrap0", "<f4", "(4611686018427387904, 4)", 0, false},
      {"tera", "<f4", "(1000000000000, 12)", 16, false},
      {"digits99", "<f4", "(" + huge + ", 2)", 16, false},
      {"digits99_cols", "<f4", "(2, " + huge + ")", 16, false},
      {"wrapped_rows", "<f4", "(9223372036854775807, 2)", 16, false},
      // 2^32 * (2^32 + 1) wraps to 2^32 values: 16 GiB were zero-filled before the size check.
      {"zero_fill_16g", "<f4", "(4294967296, 4294967297)", 16, false},
      {"f8_wrap", "<f8", "(2305843009213693953, 1)", 8, false},
      {"f8_tera", "<f8", "(1000000000000,)", 16, false},
      {"f8_wrap_bytes", "<f8", "(2305843009213693952, 4)", 0, false},
      {"ids_wrap", "<i8", "(2305843009213693953,)", 8, true},
      {"ids_tera", "<i8", "(1000000000000,)", 16, true},
      {"ids_i4_wrap", "<i4", "(4611686018427387905,)", 4, true},
      {"ids_u4_tera", "<u4", "(1000000000000, 1)", 16, true},
      {"ids_u8_digits", "<u8", "(" + huge + ",)", 16, true},
      {"ids_wrapped_rows", "<i8", "(9223372036854775807, 1)", 16, true},
      // Nothing to read, but a dimension no file could ever back.
      {"empty_wide", "<f4", "(0, 4611686018427387904)", 0, false},
      {"empty_tall", "<f4", "(4611686018427387904, 0)", 0, false},
  };
  std::vector<std::string> paths;
  for (const Hostile& c : cases) {
    paths.push_back(WriteTempFile(
        std::string(c.name) + ".npy",
        RawNpy("{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': " + c.shape + ", }",
               std::string(static_cast<size_t>(c.payload_bytes), '\x01'))));
  }
  auto read_status = [&](size_t i) -> Status {
    if (cases[i].ids) {
      auto r = ReadNpyInt64(paths[i]);
      return r.ok() ? Status::OK() : r.status();
    }
    auto r = ReadNpyMatrix(paths[i]);
    return r.ok() ? Status::OK() : r.status();
  };
  ASSERT_EXIT(
      {
        LimitAddressSpaceGrowth(512LL << 20);
        int wrong = 0;
        for (size_t i = 0; i < cases.size(); ++i) {
          std::fprintf(stderr, "%s %s: ", cases[i].name, cases[i].shape.c_str());
          Status st = read_status(i);
          std::fprintf(stderr, "%s\n", st.ToString().c_str());
          wrong += st.code() != StatusCode::kCorruption;
        }
        std::fprintf(stderr, "%d wrong\n", wrong);
        std::_Exit(wrong == 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "0 wrong");
  for (size_t i = 0; i < cases.size(); ++i) {
    Status st = read_status(i);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << cases[i].name << ": " << st.ToString();
    EXPECT_NE(st.message().find(paths[i]), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("shape"), std::string::npos) << st.message();
  }
}

// Headers that are not what np.save writes: each fails with a clear Status naming
// the file (no exception, no crash, no silently accepted garbage).
TEST(Npy, MalformedHeadersFailCleanly) {
  const std::string four = Floats(4);
  struct Case {
    const char* name;
    std::string bytes;
    StatusCode code;
    const char* needle;
  };
  auto dict = [&](const std::string& d) { return RawNpy(d, four); };
  const std::vector<Case> cases = {
      {"empty", "", StatusCode::kCorruption, "magic"},
      {"magic_only", std::string("\x93NUMPY", 6), StatusCode::kCorruption, "magic"},
      {"no_length", std::string("\x93NUMPY\x01\x00", 8), StatusCode::kCorruption, "header length"},
      {"version9", RawHeader(9, 4, "{}  "), StatusCode::kCorruption, "version"},
      // Header length fields that point past the end of the file.
      {"len_past_end_v1", RawHeader(1, 0xffff, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"),
       StatusCode::kCorruption, "past the end"},
      {"len_past_end_v2", RawHeader(2, 0xfffffff0u, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"),
       StatusCode::kCorruption, "past the end"},
      {"len_past_end_v3", RawHeader(3, 200, std::string(100, ' ')), StatusCode::kCorruption, "past the end"},
      // Garbage and non-ASCII dicts.
      {"garbage", RawHeader(1, 12, "hello world\n"), StatusCode::kCorruption, "dict"},
      {"binary", RawHeader(1, 8, std::string("\x00\xff\x01\x80{}\x7f\n", 8)), StatusCode::kCorruption, "non-ASCII"},
      {"non_ascii_key", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), '\xc3\xa9': 1, }"),
       StatusCode::kCorruption, "non-ASCII"},
      {"nul_in_dict", dict(std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2,\0 2), }", 60)),
       StatusCode::kCorruption, "non-ASCII"},
      {"empty_shape_value", dict("{'descr': '<f4', 'fortran_order': False, 'shape':}"), StatusCode::kCorruption,
       "shape"},
      {"shape_at_end", dict("{'descr': '<f4', 'fortran_order': False, 'shape':"), StatusCode::kCorruption, "shape"},
      {"unclosed_tuple", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2}"), StatusCode::kCorruption,
       "shape"},
      {"unclosed_dict", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), "), StatusCode::kCorruption,
       "dict"},
      {"trailing_text", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } trailing"),
       StatusCode::kCorruption, "dict"},
      {"float_dim", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 2), }"), StatusCode::kCorruption,
       "shape"},
      {"hex_dim", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (0x2, 2), }"), StatusCode::kCorruption,
       "shape"},
      {"negative_dim", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, -2), }"), StatusCode::kCorruption,
       "shape"},
      {"string_shape", dict("{'descr': '<f4', 'fortran_order': False, 'shape': 'abc', }"), StatusCode::kCorruption,
       "shape"},
      {"unquoted_descr", dict("{'descr': f4, 'fortran_order': False, 'shape': (2, 2), }"), StatusCode::kCorruption,
       "descr"},
      {"bad_fortran", dict("{'descr': '<f4', 'fortran_order': 'yes', 'shape': (2, 2), }"), StatusCode::kCorruption,
       "fortran_order"},
      {"duplicate_key", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), 'shape': (2, 2), }"),
       StatusCode::kCorruption, "twice"},
      {"unknown_key", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 'shape', }"),
       StatusCode::kCorruption, "extra"},
      // Missing keys.
      {"no_descr", dict("{'fortran_order': False, 'shape': (2, 2), }"), StatusCode::kCorruption, "descr"},
      {"no_fortran", dict("{'descr': '<f4', 'shape': (2, 2), }"), StatusCode::kCorruption, "fortran_order"},
      {"no_shape", dict("{'descr': '<f4', 'fortran_order': False, }"), StatusCode::kCorruption, "shape"},
      {"empty_dict", dict("{}"), StatusCode::kCorruption, "descr"},
      {"key_only_in_a_value", dict("{'descr': 'shape', 'fortran_order': False, }"), StatusCode::kCorruption, "shape"},
      // Well-formed but unsupported.
      {"fortran", dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), StatusCode::kInvalidArgument,
       "Fortran"},
      {"structured", dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }"),
       StatusCode::kInvalidArgument, "structured"},
      {"big_endian", dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }"), StatusCode::kInvalidArgument,
       "dtype"},
      {"scalar", dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"), StatusCode::kInvalidArgument,
       "dimensions"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTempFile(std::string("bad_") + c.name + ".npy", c.bytes);
    auto m = ReadNpyMatrix(path);
    ASSERT_FALSE(m.ok()) << c.name;
    EXPECT_EQ(m.status().code(), c.code) << c.name << ": " << m.status().ToString();
    EXPECT_NE(m.status().message().find(c.needle), std::string::npos) << c.name << ": " << m.status().message();
    EXPECT_NE(m.status().message().find(path), std::string::npos) << c.name << ": " << m.status().message();
    auto ids = ReadNpyInt64(path);
    ASSERT_FALSE(ids.ok()) << c.name;
  }
}

TEST(Npy, AcceptsWhatNumpyWrites) {
  float v[4] = {1, 2, 3, 4};
  const std::string four(reinterpret_cast<char*>(v), 16);
  // Double quotes, no trailing comma, other key order, a 1-D shape, version 2 and 3.
  for (const std::string& d : {std::string("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (4,)}"),
                               std::string("{'shape': (4, ), 'fortran_order': False, 'descr': '<f4'}"),
                               std::string("{'descr':'<f4','fortran_order':False,'shape':(4L,),}")}) {
    auto m = ReadNpyMatrix(WriteTempFile("ok.npy", RawNpy(d, four)));
    ASSERT_TRUE(m.ok()) << d << ": " << m.status().ToString();
    EXPECT_EQ(m->rows(), 4);
    EXPECT_EQ(m->cols(), 1);
    EXPECT_FLOAT_EQ((*m)(3, 0), 4.f);
  }
  for (int major : {2, 3}) {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    h += std::string((64 - (12 + h.size() + 1) % 64) % 64, ' ') + "\n";
    auto m = ReadNpyMatrix(WriteTempFile("v23.npy", RawHeader(major, static_cast<uint32_t>(h.size()), h) + four));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->rows(), 2);
    EXPECT_FLOAT_EQ((*m)(1, 0), 3.f);
  }
  // Empty arrays are fine.
  auto e = ReadNpyMatrix(WriteTempFile("empty.npy", RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", "")));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->rows(), 0);
  EXPECT_EQ(e->cols(), 3);
  auto ei = ReadNpyInt64(WriteTempFile("empty_ids.npy", RawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", "")));
  ASSERT_TRUE(ei.ok()) << ei.status().ToString();
  EXPECT_TRUE(ei->empty());
  // Every id dtype.
  int32_t i4[3] = {-1, 0, 7};
  auto r4 = ReadNpyInt64(WriteTempFile("i4.npy", RawNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 1), }",
                                                        std::string(reinterpret_cast<char*>(i4), 12))));
  ASSERT_TRUE(r4.ok()) << r4.status().ToString();
  EXPECT_EQ(*r4, (std::vector<int64_t>{-1, 0, 7}));
  uint32_t u4[2] = {4000000000u, 1};
  auto ru4 = ReadNpyInt64(WriteTempFile("u4.npy", RawNpy("{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }",
                                                         std::string(reinterpret_cast<char*>(u4), 8))));
  ASSERT_TRUE(ru4.ok()) << ru4.status().ToString();
  EXPECT_EQ(*ru4, (std::vector<int64_t>{4000000000LL, 1}));
  uint64_t u8[2] = {5, uint64_t{1} << 63};
  auto ru8 = ReadNpyInt64(WriteTempFile("u8.npy", RawNpy("{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }",
                                                         std::string(reinterpret_cast<char*>(u8), 16))));
  ASSERT_FALSE(ru8.ok());
  EXPECT_NE(ru8.status().message().find("int64"), std::string::npos) << ru8.status().message();
}

// float64 values beyond float32's range would become inf (the C++ conversion is
// undefined there); they are reported instead. NaN and inf themselves pass through.
TEST(Npy, Float64OutOfFloatRangeIsAnError) {
  double big[2] = {1.0, -1e300};
  auto m = ReadNpyMatrix(WriteTempFile("f8big.npy", RawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                                                           std::string(reinterpret_cast<char*>(big), 16))));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("float32"), std::string::npos) << m.status().message();
  double special[3] = {std::numeric_limits<double>::infinity(), std::nan(""), 3.4e38};
  auto s = ReadNpyMatrix(WriteTempFile("f8inf.npy", RawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                                           std::string(reinterpret_cast<char*>(special), 24))));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(std::isinf((*s)(0, 0)));
  EXPECT_TRUE(std::isnan((*s)(1, 0)));
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The in-memory entry point (the fuzzer's) agrees with the file reader.
TEST(Npy, FromMemoryMatchesTheFileReader) {
  Matrix m = RandomMatrix(4, 3, 7);
  const std::string p = TempDir() + "/mem.npy";
  ASSERT_TRUE(WriteNpyMatrix(p, m).ok());
  const std::string bytes = ReadFileBytes(p);
  auto back = npy_internal::ReadNpyMatrixFromMemory(bytes.data(), bytes.size(), "mem.npy");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->storage(), m.storage());
  const std::vector<int64_t> ids = {3, -4, int64_t{1} << 50};
  ASSERT_TRUE(WriteNpyInt64(TempDir() + "/mem_ids.npy", ids).ok());
  const std::string id_bytes = ReadFileBytes(TempDir() + "/mem_ids.npy");
  auto ids_back = npy_internal::ReadNpyInt64FromMemory(id_bytes.data(), id_bytes.size(), "mem_ids.npy");
  ASSERT_TRUE(ids_back.ok()) << ids_back.status().ToString();
  EXPECT_EQ(*ids_back, ids);
  auto bad = npy_internal::ReadNpyMatrixFromMemory(bytes.data(), bytes.size() - 1, "cut.npy");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cut.npy"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(npy_internal::ReadNpyMatrixFromMemory(nullptr, 0, "null.npy").ok());
}

// Every prefix of a valid file fails cleanly, and single-byte damage anywhere in
// the prefix and header either still reads or fails with a Status (a small
// deterministic fuzz; fuzz/npy_fuzzer.cpp does the rest).
TEST(Npy, TruncatedAndDamagedFilesFailCleanly) {
  const std::string p = TempDir() + "/dmg.npy";
  ASSERT_TRUE(WriteNpyMatrix(p, RandomMatrix(3, 2, 3)).ok());
  const std::string bytes = ReadFileBytes(p);
  ASSERT_EQ(bytes.size(), 128u + 24u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = npy_internal::ReadNpyMatrixFromMemory(bytes.data(), n, "prefix.npy");
    EXPECT_FALSE(r.ok()) << n;
    auto f = ReadNpyMatrix(WriteTempFile("prefix.npy", bytes.substr(0, n)));
    EXPECT_FALSE(f.ok()) << n;
  }
  for (size_t i = 0; i < 128; ++i) {
    for (char c : {'\0', '\xff', '\x80', '9', '0', ',', ')', '(', '}', '\'', ' ', '-', 'L'}) {
      std::string d = bytes;
      d[i] = c;
      auto r = npy_internal::ReadNpyMatrixFromMemory(d.data(), d.size(), "damaged.npy");
      if (r.ok()) {
        EXPECT_EQ(r->size() * 4, 24) << i << " " << static_cast<int>(c);
      } else {
        EXPECT_FALSE(r.status().message().empty());
      }
      auto ids = npy_internal::ReadNpyInt64FromMemory(d.data(), d.size(), "damaged.npy");
      if (ids.ok()) EXPECT_LE(ids->size(), 3u);
    }
  }
}

// Writes are checked to the end (every write, fsync and close): a full device is
// an IOError, and a write that fails part-way leaves the file that was there
// before, not a truncated one, and no temporary file beside it.
TEST(Npy, FailedWritesAreReportedAndNeverLeaveATruncatedFile) {
  const Matrix small = RandomMatrix(4, 3, 7);
  for (const Status& st : {WriteNpyMatrix("/dev/full", small), WriteNpyInt64("/dev/full", {1, 2, 3})}) {
    EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
    EXPECT_NE(st.message().find("/dev/full"), std::string::npos) << st.message();
  }
  const std::string dir = TempDir() + "/npy_write_checks";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/out.npy";
  ASSERT_TRUE(WriteNpyMatrix(path, small).ok());
  // A file-size limit makes the next write fail part-way (EFBIG; SIGXFSZ ignored).
  const Matrix big = RandomMatrix(1000, 100, 8);  // 400 KB
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 64 << 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  const Status failed = WriteNpyMatrix(path, big);
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(failed.code(), StatusCode::kIOError) << failed.ToString();
  EXPECT_NE(failed.message().find(path), std::string::npos) << failed.message();
  auto back = ReadNpyMatrix(path);
  ASSERT_TRUE(back.ok()) << "the old file was damaged: " << back.status().ToString();
  EXPECT_EQ(back->storage(), small.storage());
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"out.npy"}) << "a temporary file was left beside " << path;
  // Replacing works, and a new file gets the usual permissions (0666 less the umask).
  ASSERT_TRUE(WriteNpyMatrix(path, big).ok());
  EXPECT_EQ(ReadNpyMatrix(path)->storage(), big.storage());
  const mode_t mask = ::umask(0);
  ::umask(mask);
  const std::string fresh = dir + "/fresh.npy";
  ASSERT_TRUE(WriteNpyInt64(fresh, {4, 5}).ok());
  EXPECT_EQ(static_cast<mode_t>(std::filesystem::status(fresh).permissions()) & 0777, 0666 & ~mask);
  // Nowhere to write: a missing directory, a directory in the way.
  EXPECT_EQ(WriteNpyMatrix(dir + "/no/such/dir/x.npy", small).code(), StatusCode::kIOError);
  std::filesystem::create_directories(dir + "/a_dir.npy");
  const Status in_the_way = WriteNpyMatrix(dir + "/a_dir.npy", small);
  EXPECT_EQ(in_the_way.code(), StatusCode::kIOError) << in_the_way.ToString();
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/a_dir.npy"));
}

}  // namespace
}  // namespace relgeo
