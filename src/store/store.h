// Internal: the RocksDB store under relgeo::Database. RocksDB types stay in
// store.cpp; callers see strings, a WriteBatch wrapper and Status. The keys
// relgeo stores, and what each holds, are in keys.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relgeo/status.h"
#include "store/keys.h"

namespace relgeo::store {

class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  void Put(const std::string& key, const std::string& value);
  void Delete(const std::string& key);
  void DeleteRange(const std::string& begin, const std::string& end);  // [begin, end)
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class Store {
 public:
  // Errors: FailedPrecondition when the directory's LOCK is held (this or another
  // process), Corruption for damaged files or a non-relgeo RocksDB, InvalidArgument
  // for a non-empty directory that is not a database, IOError "disk full" for ENOSPC.
  // read_only: RocksDB's OpenForReadOnly (no LOCK, no writes; Write fails).
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, bool create_if_missing, bool sync_writes,
                                             bool read_only = false);
  ~Store();

  Result<std::optional<std::string>> Get(const std::string& key) const;
  // One result per key, from one consistent snapshot.
  Result<std::vector<std::optional<std::string>>> MultiGet(const std::vector<std::string>& keys) const;
  Status Write(WriteBatch& batch);
  // Calls fn(key, value) for every key starting with `prefix`, in order, until it returns false.
  Status Scan(const std::string& prefix,
              const std::function<bool(const std::string& key, const std::string& value)>& fn) const;
  // Adds sorted table files (store/sst_files.h) in one atomic step: all of their
  // keys become visible together, or none (RocksDB's IngestExternalFile).
  Status IngestFiles(const std::vector<std::string>& paths);
  uint64_t LatestSequence() const;
  // Writes and fsyncs the WAL up to LatestSequence() (a no-op when read-only), so
  // that an index file saved afterwards never reflects writes a power loss could
  // still take back (docs/design.md §5.4).
  Status SyncWal();
  bool read_only() const;
  // The write-ahead log files in the directory (names), for corruption messages.
  std::vector<std::string> WalFiles() const;
  Status Close();

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace relgeo::store
