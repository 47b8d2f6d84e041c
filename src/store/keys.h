// Internal: relgeo's RocksDB key layout (docs/design.md §5). Every key the database
// reads or writes is built here, next to the table that documents it.
//
// One default column family; one-byte prefixes so that every kind of record, and
// every collection's items, is a contiguous prefix range:
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
//   "P" be32(cid) input         ingest progress of a resumable BulkAdd: u64 rows, u64 batches
// Big-endian ids with the sign bit flipped make RocksDB's bytewise order equal to
// numeric order, so a collection's items are one ordered prefix scan.
#pragma once

#include <cstdint>
#include <string>

namespace relgeo::store {

// Prefixes of the record kinds that are scanned as a whole.
inline constexpr char kAnchorSetPrefix[] = "A";
inline constexpr char kModelPrefix[] = "M";
inline constexpr char kAnchorLatentsPrefix[] = "L";
inline constexpr char kCollectionPrefix[] = "C";

std::string FormatKey();
std::string AnchorSetKey(const std::string& name);
std::string ModelKey(const std::string& name);
std::string MapBytesKey(const std::string& model);
std::string EncoderBytesKey(const std::string& model);
std::string AnchorLatentsKey(const std::string& model, const std::string& set);
// Prefix of every anchor-latents key of `model` ("L" model \0).
std::string AnchorLatentsPrefix(const std::string& model);
std::string CollectionKey(const std::string& name);
std::string NextCollectionIdKey();
std::string StateKey(uint32_t cid);
std::string ItemPrefix(uint32_t cid);
std::string ItemKey(uint32_t cid, int64_t id);
int64_t ItemIdFromKey(const std::string& key);  // key produced by ItemKey
// Ingest progress of a resumable BulkAdd of `input` (the caller's identity of its source).
std::string IngestKey(uint32_t cid, const std::string& input);
std::string IngestPrefix(uint32_t cid);

}  // namespace relgeo::store
