// Database: an embedded store of relative representations opened on a directory
// (no server). RocksDB holds everything (models with their TorchScript bytes,
// anchor sets, per-model anchor latents, every item's representation, model and
// payload); each collection's FAISS index is derived from it, saved beside it
// with the mutation counter and RocksDB sequence number it reflects, and rebuilt
// on open when missing, corrupt or stale (docs/design.md §5).
//
// A query from any registered model is encoded with that model's own metric map
// and anchor latents, then searched against items indexed by any other model of
// the same anchor set: this is cross-model retrieval.
//
// Threading: every method is thread-safe. Searches, Gets, Encodes and listings
// run concurrently (shared lock); mutations are serialised (exclusive lock).
// Durability: every mutation is one atomic RocksDB WriteBatch written through
// the WAL before the call returns, so a process crash (even SIGKILL) loses no
// acknowledged call and never leaves half of one. `sync_writes` also fsyncs the
// WAL, for power loss.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "relgeo/index.h"
#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/status.h"

namespace relgeo {

struct DatabaseOptions {
  bool create_if_missing = true;
  bool sync_writes = false;  // fsync the WAL on every mutation (power-loss safety)
  // Save a collection's index after this many mutated items (0 = only on
  // Close / BulkAdd end / SaveIndexes). Bounds rebuild work after a crash.
  int64_t index_save_every = 0;
  // Open without writing anything (RocksDB's OpenForReadOnly, no LOCK): reads and
  // searches work; mutations fail with FailedPrecondition; an index rebuilt on open
  // lives in memory only (Close saves nothing). For read-only directories and media.
  bool read_only = false;
};

// A name: 1-128 characters of [A-Za-z0-9_.-].
struct ModelSpec {
  std::string name;
  std::string map_bytes;  // serialized TorchScript module (what torch.jit.save writes)
  OutputDistance distance = OutputDistance::kEuclidean;
  int64_t latent_dim = 0;      // 0 = inferred from the map
  std::string encoder_bytes;   // optional TorchScript encoder: raw input -> latent
  // Optional: attach to an anchor set at registration, in the same WriteBatch.
  std::string anchor_set;
  Matrix anchor_latents;  // K x d, in the anchor set's order
};

struct ModelInfo {
  std::string name;
  int64_t latent_dim = 0;
  int64_t output_dim = 0;
  OutputDistance distance = OutputDistance::kEuclidean;
  int64_t map_bytes = 0;
  bool has_encoder = false;
  std::vector<std::string> anchor_sets;  // the sets it is attached to
};

struct AnchorSetInfo {
  std::string name;
  std::vector<int64_t> sample_ids;  // K ids, in order
};

struct CollectionOptions {
  std::string anchor_set;
  std::string index = "Flat";  // IndexSpec string; stored (and listed) in its canonical spelling
  int steps = 8;               // 1..kMaxSteps
  PathMode mode = PathMode::kLength;
};

struct CollectionInfo {
  std::string name;
  CollectionOptions options;
  int64_t items = 0;           // in RocksDB
  int64_t indexed = 0;         // in the FAISS index (equal to items)
  bool index_trained = true;   // false: IVF below its training threshold (exact search)
  uint64_t version = 0;        // mutation counter (written with every batch)
  std::string index_state;     // "new", "loaded", "rebuilt (missing|stale|corrupt: ...)"
};

struct Item {
  int64_t id = 0;
  std::string model;                  // the model that indexed it
  std::vector<float> representation;  // K values, raw (not normalised)
  std::string payload;
};

// Checked by every Search call before any work (InvalidArgument otherwise): k in
// [1, kMaxSearchK]; ef_search in [0, kMaxEfSearch]; nprobe in [0, kMaxNlist], and at
// most the collection's nlist on an IVF collection.
inline constexpr int64_t kMaxSearchK = 100000;

struct SearchParams {
  int ef_search = 0;  // HNSW efSearch; 0 = default (64)
  int nprobe = 0;     // IVF lists visited; 0 = default (16, or nlist when smaller)
  IdFilter filter;    // optional: keep only ids for which it returns true (Flat: asked per candidate, one call
                      // at a time, possibly from relgeo's worker threads; HNSW/IVF: over-fetch + filter)
};

struct SearchResults {
  int64_t queries = 0, k = 0;
  std::vector<int64_t> ids;   // queries x k, row-major, -1 where fewer than k items
  std::vector<float> scores;  // cosine similarities, best first
  const int64_t* row_ids(int64_t q) const { return ids.data() + q * k; }
  const float* row_scores(int64_t q) const { return scores.data() + q * k; }
};

struct BulkProgress {
  int64_t done = 0;     // items committed (acknowledged) so far
  int64_t total = -1;   // -1 when the source does not know
  int64_t batches = 0;  // batches committed
};

struct BulkStats {
  int64_t items = 0, batches = 0;  // written by this call
  // Resumable BulkAdd: rows and batches an earlier, interrupted call with the same
  // resume_key had committed, skipped by this one.
  int64_t skipped_items = 0, skipped_batches = 0;
  double encode_seconds = 0;  // RelativeEncoder
  double store_seconds = 0;   // building and writing RocksDB WriteBatches
  double index_seconds = 0;   // FAISS adds (and training)
  double total_seconds = 0;
  // Why the index could not be saved at the end (disk full, read-only directory,
  // ...); empty when it was. The items are committed either way: the index is
  // rebuilt from RocksDB on the next open (docs/design.md §5.4).
  std::string index_not_saved;
};

struct BulkOptions {
  int64_t batch_size = 4096;  // items per WriteBatch, 1..kMaxBulkBatch (memory is O(batch_size * (d + K)))
  int64_t total = -1;         // for progress reporting
  // Called after each committed batch; returning false stops (committed batches stay).
  std::function<bool(const BulkProgress&)> progress;
  // Resumable bulk add (docs/database.md#resumable-bulk-index). Non-empty: the
  // identity of the source (at most kMaxResumeKeyBytes; the caller decides what
  // identifies its input, e.g. a file's size, mtime and a hash of its first bytes).
  // Every batch's WriteBatch then also records, under (collection, resume_key), how
  // many source rows are committed, atomically with the batch's items; a later call
  // with the same key first skips that many rows and reports them in
  // BulkStats::skipped_*. The record is deleted once the source is exhausted.
  std::string resume_key;
  // Skips that many rows of the source (e.g. a seek); if not set, BulkAdd reads and
  // discards them through the source.
  std::function<Status(int64_t rows)> skip_rows;
};

inline constexpr size_t kMaxResumeKeyBytes = 1024;
// The largest BulkOptions::batch_size: a batch's latents and representations are
// held in memory together (O(batch_size * (d + K)) floats).
inline constexpr int64_t kMaxBulkBatch = 1 << 20;

// Streaming source for BulkAdd: fill up to `max_rows` rows of ids and latents
// (latents resized to rows x d); return the number of rows, 0 at the end.
using BatchSource = std::function<Result<int64_t>(int64_t max_rows, std::vector<int64_t>* ids, Matrix* latents)>;

// ---- distributed bulk indexing (docs/distributed.md): workers encode and write
// sorted item files with WriteItemFile, the driver ingests them all at once.
// What a worker needs to encode for (collection, model) and write item records:
struct IngestTicket {
  std::string ticket;  // opaque: collection id, model, K, digest of the map and anchors
  std::string map_bytes;
  OutputDistance distance = OutputDistance::kEuclidean;
  Matrix anchor_latents;  // K x d, the model's latents for the collection's anchor set
  int steps = 8;
  PathMode mode = PathMode::kLength;
};

struct IngestStats {
  int64_t files = 0, items = 0;
  int64_t replaced = 0;       // ids that existed before (upserts)
  double read_seconds = 0;    // reading and checking the files
  double ingest_seconds = 0;  // RocksDB's IngestExternalFile
  double index_seconds = 0;   // FAISS update and index save
  std::string index_not_saved;  // as BulkStats::index_not_saved
};

// Worker side, no database open: writes (ids, n x K representations) as the item
// records of the ticket's collection and model, sorted by id, to `path` atomically
// (temporary file + rename). ids: distinct, not -1, at least one.
Status WriteItemFile(const std::string& ticket, const std::string& path, const std::vector<int64_t>& ids,
                     MatrixView representations);

class Database {
 public:
  // Opens (creating if allowed) the database in `dir`. Fails with a clear Status
  // when the directory is held by another handle or process (RocksDB LOCK), is
  // not a relgeo database, or is corrupt.
  static Result<std::unique_ptr<Database>> Open(const std::string& dir, const DatabaseOptions& options = {});
  ~Database();  // Close()s
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Saves dirty indexes and closes RocksDB. Further calls fail.
  Status Close();
  // Saves every dirty index now.
  Status SaveIndexes();
  const std::string& path() const;

  // ---- anchor sets
  // 1..kMaxAnchors distinct sample ids.
  Status CreateAnchorSet(const std::string& name, const std::vector<int64_t>& sample_ids);
  Status DropAnchorSet(const std::string& name);  // refused while a collection uses it
  Result<std::vector<AnchorSetInfo>> ListAnchorSets() const;

  // ---- models
  Status RegisterModel(const ModelSpec& spec);
  // Attaches (or replaces) a model's K x d anchor latents for an anchor set. Replacing
  // them is refused (FailedPrecondition, naming the collections) while a collection over
  // the set holds items the model stored: old and new representations would not compare.
  Status AttachAnchors(const std::string& model, const std::string& anchor_set, MatrixView anchor_latents);
  Status DropModel(const std::string& model);  // items it indexed stay
  Result<std::vector<ModelInfo>> ListModels() const;

  // ---- collections
  Status CreateCollection(const std::string& name, const CollectionOptions& options);
  Status DropCollection(const std::string& name);
  Result<std::vector<CollectionInfo>> ListCollections() const;
  Result<CollectionInfo> GetCollectionInfo(const std::string& name) const;

  // ---- items
  // Encodes n x d latents with `model`'s map and its anchors for the collection's
  // anchor set, stores and indexes them. Existing ids are replaced (upsert).
  // payloads: empty or n entries.
  Status Add(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
             MatrixView latents, const std::vector<std::string>& payloads = {});
  // Stores precomputed representations (n x K) — e.g. from Encode — as if `model` made them.
  Status AddRepresentations(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
                            MatrixView representations, const std::vector<std::string>& payloads = {});
  // Streams a whole dataset in batches, one WriteBatch per batch.
  Result<BulkStats> BulkAdd(const std::string& collection, const std::string& model, const BatchSource& source,
                            const BulkOptions& options = {});
  // Convenience: an in-memory matrix streamed batch by batch (ids empty = 0..n-1).
  Result<BulkStats> BulkAdd(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
                            MatrixView latents, const BulkOptions& options = {});
  // Returns how many of the ids existed (and are now gone).
  Result<int64_t> Remove(const std::string& collection, const std::vector<int64_t>& ids);
  Result<Item> Get(const std::string& collection, int64_t id) const;

  // ---- queries
  Result<SearchResults> Search(const std::string& collection, const std::string& model, MatrixView latents, int64_t k,
                               const SearchParams& params = {}) const;
  Result<SearchResults> SearchRepresentations(const std::string& collection, MatrixView representations, int64_t k,
                                              const SearchParams& params = {}) const;
  // Raw inputs -> latents with the model's stored encoder module (n x D in, its
  // output flattened to n x d, d = the model's latent dimension). FailedPrecondition
  // when the model has no encoder.
  Result<Matrix> EncodeInputs(const std::string& model, MatrixView inputs) const;
  // Search from raw inputs: EncodeInputs, then Search.
  Result<SearchResults> SearchInputs(const std::string& collection, const std::string& model, MatrixView inputs,
                                     int64_t k, const SearchParams& params = {}) const;
  // n x d latents -> n x K representations with the model's anchors for `anchor_set`.
  Result<Matrix> Encode(const std::string& model, const std::string& anchor_set, MatrixView latents,
                        const EncoderOptions& options = {}) const;

  // ---- distributed bulk indexing (WriteItemFile above)
  // What workers need to encode for `collection` with `model`.
  Result<IngestTicket> PrepareIngest(const std::string& collection, const std::string& model) const;
  // Ingests item files written from `ticket` in ONE atomic step (all or nothing), with
  // the collection's new state (version + 1, item count; ids already stored are
  // upserts), then brings the index in line. Errors, with nothing changed:
  // FailedPrecondition when the ticket is stale (collection recreated, model's map or
  // anchors replaced since PrepareIngest); InvalidArgument for an id in two files or
  // records of another collection, model or K; Corruption for a damaged file.
  Result<IngestStats> IngestItemFiles(const std::string& collection, const std::string& model,
                                      const std::string& ticket, const std::vector<std::string>& paths);

  struct Impl;

 private:
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace relgeo
