// Internal: the RocksDB store under relgeo::Database. RocksDB types stay in
// store.cpp; callers see strings, a WriteBatch wrapper and Status.
//
// Key layout (one default column family, one-byte prefixes so that every kind of
// record, and every collection's items, is a contiguous prefix range):
//   "F"                         format marker ("relgeo-db 1")
//   "A" name                    anchor set: u64 K, K x i64 sample ids
//   "M" name                    model metadata (JSON)
//   "B" name                    model metric map (TorchScript bytes)
//   "E" name                    model encoder (TorchScript bytes, optional)
//   "L" model \0 set            anchor latents of `model` for `set` (u64 rows, u64 cols, f32...)
//   "C" name                    collection metadata (JSON, holds its numeric id)
//   "N"                         next collection id (u32)
//   "V" be32(cid)               collection state: u64 version, u64 item count
//   "I" be32(cid) be64(id^2^63) item: u32 len, model, u32 K, K x f32, payload
// Big-endian ids with the sign bit flipped make RocksDB's bytewise order equal to
// numeric order, so a collection's items are one ordered prefix scan.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relgeo/status.h"

namespace relgeo::store {

std::string ItemPrefix(uint32_t cid);
std::string ItemKey(uint32_t cid, int64_t id);
int64_t ItemIdFromKey(const std::string& key);  // key produced by ItemKey
std::string StateKey(uint32_t cid);
std::string AnchorLatentsKey(const std::string& model, const std::string& set);

class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  void Put(const std::string& key, const std::string& value);
  void Delete(const std::string& key);
  void DeleteRange(const std::string& begin, const std::string& end);  // [begin, end)
  size_t bytes() const;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class Store {
 public:
  // Errors: FailedPrecondition when the directory's LOCK is held (this or another
  // process), Corruption for damaged files or a non-relgeo RocksDB, InvalidArgument
  // for a non-empty directory that is not a database.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, bool create_if_missing, bool sync_writes);
  ~Store();

  Result<std::optional<std::string>> Get(const std::string& key) const;
  // One result per key, from one consistent snapshot.
  Result<std::vector<std::optional<std::string>>> MultiGet(const std::vector<std::string>& keys) const;
  Status Write(WriteBatch& batch);
  // Calls fn(key, value) for every key starting with `prefix`, in order, until it returns false.
  Status Scan(const std::string& prefix,
              const std::function<bool(const std::string& key, const std::string& value)>& fn) const;
  uint64_t LatestSequence() const;
  Status Close();

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace relgeo::store
