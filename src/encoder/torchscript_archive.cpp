// ZIP layout checks before LibTorch (torchscript_archive.h). Offsets and sizes come
// from the bytes themselves, so every read is bounds-checked against the buffer.
#include "encoder/torchscript_archive.h"

#include <cstdint>
#include <cstring>

#include "relgeo/metric_map.h"

namespace relgeo {
namespace {

constexpr size_t kEocdSize = 22, kLocatorSize = 20, kZip64EocdSize = 56, kCentralSize = 46;

uint64_t Le(const std::string& s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  return v;
}
bool Sig(const std::string& s, size_t pos, const char* sig) { return pos + 4 <= s.size() && s.compare(pos, 4, sig, 4) == 0; }
Status Bad(const std::string& why) { return Status::InvalidArgument("not a TorchScript archive: " + why); }
bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

Result<MapArchiveKind> InspectMapArchive(const std::string& s) {
  if (s.empty()) return Status::InvalidArgument("metric map is empty (0 bytes)");
  if (static_cast<uint64_t>(s.size()) > static_cast<uint64_t>(kMaxMapFileBytes))
    return Status::InvalidArgument("metric map is " + std::to_string(s.size()) + " bytes, more than the limit of " +
                                   std::to_string(kMaxMapFileBytes));
  if (!Sig(s, 0, "PK\x03\x04")) return Bad("it does not start with a ZIP local file header");
  if (s.size() < kEocdSize + 4) return Bad("too short for a ZIP archive");
  // The end-of-central-directory record: the last 22 bytes plus a comment of <= 65535.
  size_t eocd = std::string::npos;
  for (size_t pos = s.size() - kEocdSize;; --pos) {
    if (Sig(s, pos, "PK\x05\x06") && Le(s, pos + 20, 2) == s.size() - pos - kEocdSize) {
      eocd = pos;
      break;
    }
    if (pos == 0 || s.size() - pos >= kEocdSize + 65535) break;
  }
  if (eocd == std::string::npos) return Bad("no ZIP end-of-central-directory record (truncated?)");
  uint64_t entries = Le(s, eocd + 10, 2), cd_size = Le(s, eocd + 12, 4), cd_offset = Le(s, eocd + 16, 4);
  uint64_t cd_end_limit = eocd;  // the central directory ends before the end records
  if (eocd >= kLocatorSize && Sig(s, eocd - kLocatorSize, "PK\x06\x07")) {
    // ZIP64 (torch.jit.save always writes it): its record holds the real counts.
    const uint64_t z64 = Le(s, eocd - kLocatorSize + 8, 8);
    if (z64 > eocd - kLocatorSize || eocd - kLocatorSize - z64 < kZip64EocdSize || !Sig(s, z64, "PK\x06\x06"))
      return Bad("bad ZIP64 end-of-central-directory locator");
    entries = Le(s, z64 + 32, 8);
    cd_size = Le(s, z64 + 40, 8);
    cd_offset = Le(s, z64 + 48, 8);
    cd_end_limit = z64;
  } else if (entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    return Bad("ZIP64 sizes without a ZIP64 locator");
  }
  if (entries == 0) return Bad("the archive is empty");
  if (cd_offset > cd_end_limit || cd_size > cd_end_limit - cd_offset)
    return Bad("the central directory lies outside the file");
  if (entries > cd_size / kCentralSize) return Bad("more entries than the central directory can hold");
  bool data_pkl = false, pt2 = false, aoti = false;
  size_t pos = static_cast<size_t>(cd_offset);
  const size_t end = static_cast<size_t>(cd_offset + cd_size);
  for (uint64_t i = 0; i < entries; ++i) {
    if (end - pos < kCentralSize || !Sig(s, pos, "PK\x01\x02")) return Bad("damaged central directory entry");
    const size_t name_len = Le(s, pos + 28, 2), extra_len = Le(s, pos + 30, 2), comment_len = Le(s, pos + 32, 2);
    const uint64_t local = Le(s, pos + 42, 4);
    if (end - pos - kCentralSize < name_len + extra_len + comment_len) return Bad("damaged central directory entry");
    // 0xffffffff: the offset is in the entry's ZIP64 extra field (left to LibTorch).
    if (local != 0xffffffff && (local >= cd_offset || !Sig(s, static_cast<size_t>(local), "PK\x03\x04")))
      return Bad("a central directory entry points outside the archive's files");
    const std::string name = s.substr(pos + kCentralSize, name_len);
    if (name == "data.pkl" || EndsWith(name, "/data.pkl")) data_pkl = true;
    // A PyTorch 2 archive (.pt2): "<name>/archive_format"; compiled code under
    // "<name>/data/aotinductor/" (docs/design.md §4.10).
    if (EndsWith(name, "/archive_format")) pt2 = true;
    if (name.find("/data/aotinductor/") != std::string::npos) aoti = true;
    pos += kCentralSize + name_len + extra_len + comment_len;
  }
  if (pt2) return aoti ? MapArchiveKind::kAotiPackage : MapArchiveKind::kExportedProgram;
  if (!data_pkl) return Bad("no data.pkl record (a ZIP file, but not one torch.jit.save wrote)");
  return MapArchiveKind::kTorchScript;
}

Status CheckTorchScriptArchive(const std::string& s) {
  RELGEO_ASSIGN_OR_RETURN(MapArchiveKind kind, InspectMapArchive(s));
  if (kind != MapArchiveKind::kTorchScript) return Bad("a PyTorch 2 (.pt2) archive");
  return Status::OK();
}

}  // namespace relgeo
