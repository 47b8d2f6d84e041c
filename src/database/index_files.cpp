// Index files and recovery (docs/design.md §5). Each collection's vector index is
// saved beside RocksDB as relgeo-index/<cid>.idx:
//   magic "RGIDX001", u64 version, u64 sequence, u32 crc32(body), u64 body size, body
// written to a temporary file, fsynced and renamed into place. On open an index
// is used only when its checksum, version, size, dimension and spec match the
// stored state; otherwise (and when something other than a file is in its place)
// it is rebuilt from the items in RocksDB.
#include <zlib.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <limits>

#include "database/database_impl.h"
#include "database/index_file_header.h"
#include "relgeo/file_io.h"

namespace relgeo {
namespace {

namespace fs = std::filesystem;
using records::GetU32;
using records::GetU64;
using records::PutU32;
using records::PutU64;


}  // namespace

std::string Database::Impl::IndexPath(uint32_t cid) const { return dir + "/relgeo-index/" + std::to_string(cid) + ".idx"; }

// ---- index files
Status Database::Impl::SaveIndex(CollectionState& c) {
  if (store->read_only())
    return Status::FailedPrecondition("database '" + dir + "' is open read-only: the index of collection '" +
                                      c.meta.name + "' is not saved");
  RELGEO_ASSIGN_OR_RETURN(std::string body, c.index->Serialize());
  // The WAL is made durable up to the sequence the file records first, so an index
  // file never reflects writes that a power loss could take back: an index ahead of
  // the database on open then means acknowledged writes were lost (§5.4).
  const uint64_t sequence = store->LatestSequence();
  RELGEO_RETURN_IF_ERROR(store->SyncWal().WithContext("cannot save the index of collection '" + c.meta.name + "'"));
  std::string head(index_file::kMagic, 8);
  PutU64(&head, c.version);
  PutU64(&head, sequence);
  PutU32(&head, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
  PutU64(&head, body.size());
  const std::string index_dir = dir + "/relgeo-index", path = IndexPath(c.meta.cid);
  std::error_code ec;
  fs::create_directories(index_dir, ec);
  if (ec) return Status::IOError("cannot create the index directory " + index_dir + ": " + ec.message());
  // Only a regular file (or nothing) is replaced: a directory or anything else in
  // the way is the user's, and stays (the index is rebuilt on the next open).
  const fs::file_status st = fs::status(path, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st))
    return Status::IOError("cannot save the index of collection '" + c.meta.name + "' to " + path +
                           ": it is not a regular file (remove it; the index is rebuilt from the database meanwhile)");
  // Written to a temporary file, fsynced and renamed into place (all or nothing).
  Status s = WriteFileAtomically(path, {head, body});
  if (!s.ok()) return s.WithContext("cannot save the index of collection '" + c.meta.name + "'");
  c.dirty = false;
  c.unsaved = 0;
  return Status::OK();
}

// Loads the saved index if it matches the stored state; returns why not otherwise.
Result<std::unique_ptr<VectorIndex>> Database::Impl::LoadIndex(const CollectionState& c, std::string* why,
                                                               bool* backwards) const {
  const std::string path = IndexPath(c.meta.cid);
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    *why = "missing";
    return Status::NotFound("missing");
  }
  if (!fs::is_regular_file(st)) {
    *why = "corrupt: " + path + " is not a regular file";
    return Status::Corruption(*why);
  }
  auto bytes = ReadFileBytes(path, std::numeric_limits<int64_t>::max());
  if (!bytes.ok()) {
    *why = "corrupt: " + bytes.status().message();
    return Status::Corruption(*why);
  }
  const std::string& s = *bytes;
  const size_t head = index_file::kHeaderSize;
  index_file::Header h;
  if (Status hs = index_file::ParseHeader(s, &h); !hs.ok()) {
    *why = "corrupt: " + hs.message();
    return Status::Corruption(*why);
  }
  const uint64_t version = h.version, sequence = h.sequence;
  // An index saved after the WAL was synced (SaveIndex) can only be behind the
  // database, never ahead: ahead means RocksDB lost acknowledged writes (a damaged
  // WAL or table file that recovery silently cut short). That is the database's
  // corruption, not the index's; it is reported, not rebuilt over.
  const uint64_t latest = store->LatestSequence();
  if (version > c.version || sequence > latest) {
    std::string had = "?";
    auto old = VectorIndex::Deserialize(s.substr(head), c.meta.K, -1);
    if (old.ok()) had = std::to_string((*old)->size());
    std::string wal;
    const auto logs = store->WalFiles();
    for (size_t i = logs.size() > 3 ? logs.size() - 3 : 0; i < logs.size(); ++i) wal += (wal.empty() ? "" : ", ") + logs[i];
    if (logs.size() > 3) wal = std::to_string(logs.size()) + " files, the newest " + wal;
    *why = "database '" + dir + "' went backwards (acknowledged writes were lost; a damaged write-ahead log or " +
           "table file?): collection '" + c.meta.name + "': the index file " + path + " reflects version " +
           std::to_string(version) + " with " + had + " items at RocksDB sequence " + std::to_string(sequence) +
           ", the database now has version " + std::to_string(c.version) + " with " + std::to_string(c.count) +
           " items at sequence " + std::to_string(latest) + (wal.empty() ? "" : "; write-ahead log: " + wal);
    if (backwards) *backwards = true;
    return Status::Corruption(*why);
  }
  if (version != c.version) {
    *why = "stale: index version " + std::to_string(version) + ", database version " + std::to_string(c.version);
    return Status::FailedPrecondition(*why);
  }
  auto idx = VectorIndex::Deserialize(s.substr(head), c.meta.K, c.count);
  if (!idx.ok()) {
    *why = "corrupt: " + idx.status().message();
    return idx.status();
  }
  if ((*idx)->size() != c.count || (*idx)->dim() != c.meta.K || (*idx)->spec().ToString() != c.spec.ToString()) {
    *why = "stale: size, dimension or spec differ";
    return Status::FailedPrecondition(*why);
  }
  return idx;
}

Status Database::Impl::RebuildIndex(CollectionState& c) {
  RELGEO_ASSIGN_OR_RETURN(auto idx, VectorIndex::Create(c.spec, c.meta.K));
  std::vector<int64_t> ids;
  std::vector<float> buf;
  int64_t n = 0;
  Status inner;
  auto flush = [&]() -> Status {
    if (ids.empty()) return Status::OK();
    Status s = idx->Add(ids.data(), MatrixView(buf.data(), static_cast<int64_t>(ids.size()), c.meta.K));
    ids.clear();
    buf.clear();
    return s;
  };
  RELGEO_RETURN_IF_ERROR(store->Scan(store::ItemPrefix(c.meta.cid), [&](const std::string& k, const std::string& v) {
    const float* rep;
    int64_t K;
    inner = records::DecodeItem(v, nullptr, &rep, &K, nullptr);
    if (inner.ok() && K != c.meta.K) inner = Status::Corruption("stored item has the wrong representation size");
    if (!inner.ok()) return false;
    ids.push_back(store::ItemIdFromKey(k));
    buf.insert(buf.end(), rep, rep + K);
    ++n;
    if (ids.size() >= 4096) inner = flush();
    return inner.ok();
  }));
  RELGEO_RETURN_IF_ERROR(inner.WithContext("rebuilding index of '" + c.meta.name + "'"));
  RELGEO_RETURN_IF_ERROR(flush());
  if (n != c.count) c.count = n;  // the state record is authoritative only as a cross-check
  c.index = std::move(idx);
  c.dirty = true;
  return Status::OK();
}

Status Database::Impl::LoadCollections() {
  // Temporary files of saves that a crash interrupted (this handle holds the
  // database's lock, so no save is running): "<cid>.idx.tmp-relgeo-<pid>-<n>", and
  // "<cid>.idx.tmp" from earlier versions.
  std::error_code ec;
  for (fs::directory_iterator it(dir + "/relgeo-index", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find(".idx.tmp") != std::string::npos && it->is_regular_file(ec)) fs::remove(it->path(), ec);
  }
  std::vector<CollectionMeta> metas;
  Status inner;
  RELGEO_RETURN_IF_ERROR(store->Scan(store::kCollectionPrefix, [&](const std::string&, const std::string& v) {
    auto m = records::DecodeCollection(v);
    if (!m.ok()) {
      inner = m.status();
      return false;
    }
    metas.push_back(*m);
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(inner);
  for (auto& m : metas) {
    CollectionState c;
    c.meta = m;
    auto spec = IndexSpec::Parse(m.options.index);
    if (!spec.ok()) return Status::Corruption("collection '" + m.name + "': " + spec.status().message());
    c.spec = *spec;
    RELGEO_ASSIGN_OR_RETURN(auto st, store->Get(store::StateKey(m.cid)));
    uint64_t count = 0;
    if (!st || !records::DecodeState(*st, &c.version, &count).ok())
      return Status::Corruption("collection '" + m.name + "' has no state record");
    c.count = static_cast<int64_t>(count);
    std::string why;
    bool backwards = false;
    auto idx = LoadIndex(c, &why, &backwards);
    if (backwards) return idx.status();
    if (idx.ok()) {
      c.index = std::move(*idx);
      c.index_state = "loaded";
    } else {
      RELGEO_RETURN_IF_ERROR(RebuildIndex(c));
      c.index_state = "rebuilt (" + why + ")";
    }
    collections.emplace(m.name, std::move(c));
  }
  return Status::OK();
}

}  // namespace relgeo
