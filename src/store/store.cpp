#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <iterator>
#include <system_error>

#include "store/info_log.h"
#include "store/rocks_options.h"

namespace relgeo::store {
namespace {

constexpr char kFormatValue[] = "relgeo-db 1";

// RocksDB's CURRENT names the live manifest: exactly "MANIFEST-<number>\n". A
// damaged one is reported by RocksDB as "CURRENT file corrupted" (no path) or, when
// it names a missing manifest, as an IOError; both mean the database is corrupt.
// Checked before opening so that the message names the file and the code is
// Corruption.
Status CheckCurrentFile(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string current = (fs::path(dir) / "CURRENT").string();
  auto corrupt = [&](const std::string& why) {
    return Status::Corruption("database '" + dir + "' is corrupt: its CURRENT file " + current + " " + why);
  };
  std::error_code ec;
  const fs::file_status st = fs::status(current, ec);
  if (ec) return Status::IOError("cannot read " + current + ": " + ec.message());
  if (!fs::is_regular_file(st)) return corrupt("is not a regular file");
  const uintmax_t size = fs::file_size(current, ec);
  if (ec) return Status::IOError("cannot read " + current + ": " + ec.message());
  if (size > 64) return corrupt("is " + std::to_string(size) + " bytes long, not one manifest name");
  std::ifstream in(current, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && !in) return Status::IOError("cannot read " + current);
  bool well_formed = text.size() > 10 && text.compare(0, 9, "MANIFEST-") == 0 && text.back() == '\n';
  for (size_t i = 9; well_formed && i + 1 < text.size(); ++i) well_formed = text[i] >= '0' && text[i] <= '9';
  if (!well_formed) return corrupt("does not name a manifest (expected 'MANIFEST-<number>' and a newline)");
  const std::string manifest = (fs::path(dir) / text.substr(0, text.size() - 1)).string();
  if (!fs::is_regular_file(manifest, ec))
    return corrupt("names " + manifest + ", which " + (fs::exists(manifest, ec) ? "is not a regular file" : "does not exist"));
  return Status::OK();
}

// ENOSPC surfaces as an IOError whose text carries strerror's "No space left on
// device"; it becomes one clear "disk full" message naming the directory.
bool IsDiskFull(const rocksdb::Status& s) {
  return s.IsIOError() && (s.ToString().find("No space left") != std::string::npos || s.IsNoSpace());
}

Status FromRocks(const rocksdb::Status& s, const std::string& context, const std::string& dir = "") {
  if (s.ok()) return Status::OK();
  if (IsDiskFull(s))
    return Status::IOError("database '" + dir + "': disk full (no space left on device) while " + context + ": " +
                           s.ToString());
  const std::string msg = context + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsIOError()) return Status::IOError(msg);
  return Status::Internal(msg);
}

}  // namespace

rocksdb::Options RocksOptions() {
  rocksdb::Options opts;
  opts.paranoid_checks = true;
  opts.max_background_jobs = 2;
  opts.write_buffer_size = 64 << 20;
  opts.compression = rocksdb::kNoCompression;  // float vectors barely compress
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return opts;
}

Status FromRocksStatus(const rocksdb::Status& s, const std::string& context) { return FromRocks(s, context); }

struct WriteBatch::Impl {
  rocksdb::WriteBatch batch;
};
WriteBatch::WriteBatch() : impl_(std::make_unique<Impl>()) {}
WriteBatch::~WriteBatch() = default;
void WriteBatch::Put(const std::string& key, const std::string& value) { impl_->batch.Put(key, value); }
void WriteBatch::Delete(const std::string& key) { impl_->batch.Delete(key); }
void WriteBatch::DeleteRange(const std::string& b, const std::string& e) { impl_->batch.DeleteRange(b, e); }

struct Store::Impl {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;
  std::string dir;
  bool read_only = false;
  // After a failed write RocksDB's WAL writer must not be touched again: Debian's
  // 7.8 asserts (aborts) in WritableFileWriter when it is synced after an error.
  std::string write_failed;
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() { (void)Close(); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, bool create_if_missing, bool sync_writes,
                                           bool read_only) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  if (exists && !fs::is_directory(dir, ec))
    return Status::InvalidArgument("'" + dir + "' exists and is not a directory");
  const bool has_current = fs::exists(fs::path(dir) / "CURRENT", ec);
  if (!has_current) {
    if (exists && !fs::is_empty(dir, ec))
      return Status::InvalidArgument("'" + dir + "' is a non-empty directory that is not a relgeo database (no CURRENT file)");
    if (!create_if_missing || read_only) return Status::NotFound("no database in '" + dir + "'");
    fs::create_directories(dir, ec);  // RocksDB creates only the last path component
    if (ec) return Status::IOError("cannot create database directory '" + dir + "': " + ec.message());
  }
  if (has_current) RELGEO_RETURN_IF_ERROR(CheckCurrentFile(dir));
  rocksdb::Options opts = RocksOptions();
  opts.create_if_missing = create_if_missing;
  opts.info_log_level = rocksdb::WARN_LEVEL;
  opts.info_log = NewInfoLog(dir, read_only);  // RocksDB's own LOG writer aborts on ENOSPC
  // The default, stated: a torn last WAL record (a crash mid-write) is dropped, not
  // an error; a WAL that lost acknowledged writes is caught by comparing each index
  // file's version and sequence with the database's (docs/design.md §5.4).
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(opts, dir, &raw) : rocksdb::DB::Open(opts, dir, &raw);
  if (!s.ok()) {
    const std::string m = s.ToString();
    if (IsDiskFull(s)) return FromRocks(s, "opening it", dir);
    if (s.IsIOError() && (m.find("lock") != std::string::npos || m.find("LOCK") != std::string::npos))
      return Status::FailedPrecondition("database '" + dir + "' is already open: it is in use by another process " +
                                        "or handle (lock held: " + (fs::path(dir) / "LOCK").string() + ")");
    if (s.IsCorruption()) return Status::Corruption("database '" + dir + "' is corrupt: " + m);
    // A file the manifest lists (a table or log) is gone: the database is damaged too.
    if (s.IsPathNotFound() || (s.IsIOError() && m.find("No such file or directory") != std::string::npos))
      return Status::Corruption("database '" + dir + "' is corrupt (a file it needs is missing): " + m);
    return FromRocks(s, "opening database '" + dir + "'");
  }
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
  impl->write_options.sync = sync_writes;
  impl->dir = dir;
  impl->read_only = read_only;
  std::unique_ptr<Store> store(new Store(std::move(impl)));
  RELGEO_ASSIGN_OR_RETURN(auto marker, store->Get(FormatKey()));
  if (!marker) {
    // A fresh database has no keys at all; anything else is someone else's RocksDB.
    bool empty = true;
    RELGEO_RETURN_IF_ERROR(store->Scan("", [&](const std::string&, const std::string&) {
      empty = false;
      return false;
    }));
    if (!empty) return Status::Corruption("'" + dir + "' is a RocksDB database but not a relgeo one (no format marker)");
    if (read_only) return Status::Corruption("'" + dir + "' is an empty RocksDB database, not a relgeo one (no format marker)");
    WriteBatch b;
    b.Put(FormatKey(), kFormatValue);
    RELGEO_RETURN_IF_ERROR(store->Write(b));
  } else if (*marker != kFormatValue) {
    return Status::Corruption("'" + dir + "' has an unknown relgeo format '" + *marker + "'");
  }
  return store;
}

Result<std::optional<std::string>> Store::Get(const std::string& key) const {
  if (!impl_->db) return Status::FailedPrecondition("database is closed");
  std::string v;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), key, &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  RELGEO_RETURN_IF_ERROR(FromRocks(s, "reading", impl_->dir));
  return std::optional<std::string>(std::move(v));
}

Result<std::vector<std::optional<std::string>>> Store::MultiGet(const std::vector<std::string>& keys) const {
  if (!impl_->db) return Status::FailedPrecondition("database is closed");
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  std::vector<rocksdb::Status> st = impl_->db->MultiGet(rocksdb::ReadOptions(), slices, &values);
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (st[i].IsNotFound()) continue;
    RELGEO_RETURN_IF_ERROR(FromRocks(st[i], "reading", impl_->dir));
    out[i] = std::move(values[i]);
  }
  return out;
}

Status Store::Write(WriteBatch& batch) {
  if (!impl_->db) return Status::FailedPrecondition("database is closed");
  if (impl_->read_only)
    return Status::FailedPrecondition("database '" + impl_->dir + "' is open read-only: writes are refused");
  Status s = FromRocks(impl_->db->Write(impl_->write_options, &batch.impl().batch), "writing", impl_->dir);
  if (!s.ok() && impl_->write_failed.empty()) impl_->write_failed = s.message();
  return s;
}

Status Store::Scan(const std::string& prefix,
                   const std::function<bool(const std::string&, const std::string&)>& fn) const {
  if (!impl_->db) return Status::FailedPrecondition("database is closed");
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!fn(it->key().ToString(), it->value().ToString())) break;
  }
  return FromRocks(it->status(), "scanning", impl_->dir);
}

uint64_t Store::LatestSequence() const { return impl_->db ? impl_->db->GetLatestSequenceNumber() : 0; }

Status Store::SyncWal() {
  if (!impl_->db) return Status::FailedPrecondition("database is closed");
  if (impl_->read_only) return Status::OK();
  if (!impl_->write_failed.empty())
    return Status::IOError("database '" + impl_->dir + "': the write-ahead log is not synced after a failed write (" +
                           impl_->write_failed + "); reopen the database");
  return FromRocks(impl_->db->FlushWAL(/*sync=*/true), "syncing the write-ahead log", impl_->dir);
}

Status Store::IngestFiles(const std::vector<std::string>& paths) {
  if (!impl_->db) return Status::FailedPrecondition("database is closed");
  if (impl_->read_only)
    return Status::FailedPrecondition("database '" + impl_->dir + "' is open read-only: writes are refused");
  rocksdb::IngestExternalFileOptions o;
  o.move_files = true;  // hard links (a copy where links fail): the caller's files stay
  o.verify_checksums_before_ingest = true;
  return FromRocks(impl_->db->IngestExternalFile(paths, o), "ingesting " + std::to_string(paths.size()) + " files",
                   impl_->dir);
}

bool Store::read_only() const { return impl_->read_only; }

std::vector<std::string> Store::WalFiles() const {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(impl_->dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".log") out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

Status Store::Close() {
  if (!impl_->db) return Status::OK();
  rocksdb::Status s = impl_->db->Close();
  impl_->db.reset();
  return FromRocks(s, "closing database", impl_->dir);
}

}  // namespace relgeo::store

namespace relgeo::internal {
// For BuildInfo (src/util/version.cpp).
std::string RocksDbVersion() {
  return std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH);
}
}  // namespace relgeo::internal
