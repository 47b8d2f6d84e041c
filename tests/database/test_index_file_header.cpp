// The index-file header (src/database/index_file_header.cpp), which LoadIndex checks
// before the body reaches VectorIndex::Deserialize; fuzzed by fuzz/index_file_fuzzer.cpp.
#include <gtest/gtest.h>
#include <zlib.h>

#include "database/index_file_header.h"
#include "database/records.h"

namespace relgeo {
namespace {

std::string File(const std::string& body, uint64_t version, uint64_t sequence, int64_t size_delta = 0,
                 uint32_t crc_xor = 0) {
  std::string f(index_file::kMagic, 8);
  records::PutU64(&f, version);
  records::PutU64(&f, sequence);
  records::PutU32(&f, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())) ^ crc_xor);
  records::PutU64(&f, body.size() + size_delta);
  return f + body;
}

TEST(IndexFileHeader, ParsesWhatSaveWritesAndRefusesDamage) {
  const std::string body = "RGVI0001 some index bytes";
  index_file::Header h;
  ASSERT_TRUE(index_file::ParseHeader(File(body, 7, 99), &h).ok());
  EXPECT_EQ(h.version, 7u);
  EXPECT_EQ(h.sequence, 99u);
  EXPECT_EQ(h.body_size, body.size());
  ASSERT_TRUE(index_file::ParseHeader(File("", 1, 2), &h).ok());
  auto refused = [](const std::string& f, const std::string& why) {
    index_file::Header out;
    Status s = index_file::ParseHeader(f, &out);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << why;
    EXPECT_NE(s.message().find(why), std::string::npos) << s.ToString();
  };
  refused(File(body, 7, 99, 1), "bad header or truncated");
  refused(File(body, 7, 99, -1), "bad header or truncated");
  refused(File(body, 7, 99, -static_cast<int64_t>(body.size()) - 1), "bad header or truncated");
  refused(File(body, 7, 99, 0, 1), "checksum mismatch");
  refused(File(body, 7, 99).substr(0, 20), "bad header or truncated");
  std::string magic = File(body, 7, 99);
  magic[7] = '2';
  refused(magic, "bad header or truncated");
  refused("", "bad header or truncated");
}

}  // namespace
}  // namespace relgeo
