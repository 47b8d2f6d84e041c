// libFuzzer target for the index-file header (index_file::ParseHeader,
// src/database/index_file_header.cpp): what Database::Impl::LoadIndex checks on
// relgeo-index/<cid>.idx before the body goes to VectorIndex::Deserialize and FAISS.
// Checks: an accepted file has the magic, a body of exactly body_size bytes and a
// matching checksum; a refused one is Corruption with a message.
#include <zlib.h>

#include <string>

#include "database/index_file_header.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace relgeo;
  using relgeo::fuzz::Check;
  const std::string file(reinterpret_cast<const char*>(data), size);
  index_file::Header h;
  Status st = index_file::ParseHeader(file, &h);
  if (!st.ok()) {
    Check(st.code() == StatusCode::kCorruption && !st.message().empty());
    return 0;
  }
  Check(size >= index_file::kHeaderSize);
  Check(file.compare(0, 8, index_file::kMagic, 8) == 0);
  Check(h.body_size == size - index_file::kHeaderSize);
  Check(crc32(0, data + index_file::kHeaderSize, static_cast<uInt>(h.body_size)) == h.crc);
  return 0;
}
