// Internal: the header of an index file, relgeo-index/<cid>.idx (docs/design.md §5.3):
//   magic "RGIDX001", u64 version, u64 sequence, u32 crc32(body), u64 body size, body
// Apart from index_files.cpp so that the checks on outside bytes, up to the body
// handed to VectorIndex::Deserialize (and FAISS), build alone (fuzz/index_file_fuzzer.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "relgeo/status.h"

namespace relgeo::index_file {

inline constexpr char kMagic[] = "RGIDX001";
inline constexpr size_t kHeaderSize = 8 + 8 + 8 + 4 + 8;

struct Header {
  uint64_t version = 0;   // the collection's mutation counter the index reflects
  uint64_t sequence = 0;  // RocksDB's latest sequence number when it was saved
  uint32_t crc = 0;       // crc32 of the body
  uint64_t body_size = 0;
};

// Checks the magic, that the body is exactly body_size bytes and its checksum (zlib's
// crc32 over the body, its length passed as uInt, as Database::Impl::SaveIndex writes it);
// Corruption ("bad header or truncated", "checksum mismatch") otherwise. The body is
// file.substr(kHeaderSize).
Status ParseHeader(const std::string& file, Header* out);

}  // namespace relgeo::index_file
