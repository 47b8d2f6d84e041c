// The index-file header (index_file_header.h).
#include "database/index_file_header.h"

#include <zlib.h>

#include "database/records.h"

namespace relgeo::index_file {

using records::GetU32;
using records::GetU64;

Status ParseHeader(const std::string& s, Header* out) {
  if (s.size() < kHeaderSize || s.compare(0, 8, kMagic, 8) != 0 || GetU64(s, 28) != s.size() - kHeaderSize)
    return Status::Corruption("bad header or truncated");
  Header h;
  h.version = GetU64(s, 8);
  h.sequence = GetU64(s, 16);
  h.crc = GetU32(s, 24);
  h.body_size = GetU64(s, 28);
  if (crc32(0, reinterpret_cast<const Bytef*>(s.data() + kHeaderSize), s.size() - kHeaderSize) != h.crc)
    return Status::Corruption("checksum mismatch");
  *out = h;
  return Status::OK();
}

}  // namespace relgeo::index_file
