// Internal: Database::Impl, shared by the files of src/database/:
//   database.cpp       open/close, anchor sets, models, collections (API and locking)
//   items.cpp          add, bulk add, remove, get, search, encode
//   encoder_cache.cpp  metric maps and encoders loaded from the store, cached
//   index_files.cpp    index files beside RocksDB, loading, rebuilding (recovery)
// RocksDB is the source of truth; each collection's vector index is derived from
// it (docs/design.md §5). Locking: `mu` (shared for reads and searches, exclusive
// for mutations), then `cache_mu` inside it, never the other way round.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "database/records.h"
#include "relgeo/database.h"
#include "relgeo/index.h"
#include "relgeo/relative_encoder.h"
#include "store/store.h"
#include "util/fair_shared_mutex.h"

namespace relgeo {

using records::CollectionMeta;
using records::ModelMeta;
using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Names of anchor sets, models and collections: 1-128 of [A-Za-z0-9_.-].
Status CheckName(const std::string& name, const char* what);
Status CheckFinite(MatrixView m, const char* what);

struct CollectionState {
  CollectionMeta meta;
  IndexSpec spec;
  std::unique_ptr<VectorIndex> index;
  uint64_t version = 0;   // mutation counter, stored in the state record
  int64_t count = 0;      // items in RocksDB
  bool dirty = false;     // the index differs from its saved file
  int64_t unsaved = 0;    // items changed since the last save
  std::string index_state;  // "new", "loaded" or "rebuilt (why)", for info
};

struct Database::Impl {
  std::string dir;
  DatabaseOptions options;
  std::unique_ptr<store::Store> store;
  mutable FairSharedMutex mu;  // shared: reads/searches; exclusive: mutations
  std::map<std::string, CollectionState> collections;
  bool closed = false;

  // Caches, guarded by cache_mu (taken inside mu, never the other way round).
  mutable std::mutex cache_mu;
  mutable std::map<std::string, std::shared_ptr<MetricMap>> maps;
  // Keyed on model, anchor set and every EncoderOptions field (EncoderCacheKey): an
  // Encode call with other options must never hand its encoder to a collection.
  mutable std::map<std::string, std::shared_ptr<RelativeEncoder>> encoders;
  // Bumped (under the exclusive lock) whenever stored anchor latents or a model's map
  // may change: AddImpl encodes under the shared lock and re-encodes at commit time if
  // it moved, so no item holds representations made with replaced anchors (§6).
  uint64_t anchors_generation = 0;

  Status CheckOpen() const { return closed ? Status::FailedPrecondition("database is closed") : Status::OK(); }

  // ---- records (database.cpp)
  Result<ModelMeta> GetModel(const std::string& name) const;
  Result<std::vector<int64_t>> GetAnchorSet(const std::string& name) const;
  Result<const CollectionState*> GetCollection(const std::string& name) const;

  // ---- encoder_cache.cpp
  void DropCaches(const std::string& model);
  static std::string EncoderCacheKey(const std::string& model, const std::string& set, const EncoderOptions& eo);
  Result<std::shared_ptr<MetricMap>> GetMap(const ModelMeta& m) const;
  Result<std::shared_ptr<RelativeEncoder>> GetEncoder(const std::string& model, const std::string& set,
                                                    const EncoderOptions& eo) const;
  // The model's encoder module (raw input -> latent), cached per input width.
  Result<Matrix> EncodeInputs(const std::string& model, MatrixView inputs) const;
  // Encodes latents for a collection (shared lock held by the caller).
  Result<Matrix> EncodeFor(const CollectionState& c, const std::string& model, MatrixView latents) const;

  // ---- index_files.cpp
  std::string IndexPath(uint32_t cid) const;
  // ---- index files
  Status SaveIndex(CollectionState& c);
  // Loads the saved index if it matches the stored state; returns why not otherwise.
  // *backwards: the file is ahead of the database (lost writes; Corruption, §5.4).
  Result<std::unique_ptr<VectorIndex>> LoadIndex(const CollectionState& c, std::string* why,
                                                 bool* backwards = nullptr) const;
  Status RebuildIndex(CollectionState& c);
  Status LoadCollections();

  // ---- items.cpp
  // Writes items (representations already computed) under the exclusive lock.
  // `extra`: one more record written in the same WriteBatch (a resumable BulkAdd's progress).
  struct ExtraPut {
    std::string key, value;
  };
  Status CommitItems(CollectionState& c, const std::string& model, const int64_t* ids, MatrixView reps,
                   const std::vector<std::string>* payloads, double* store_s, double* index_s,
                   const ExtraPut* extra = nullptr);
  Status ValidateIds(const std::vector<int64_t>& ids, int64_t rows, const std::vector<std::string>& payloads) const;
  // Encode under the shared lock, then commit under the exclusive lock (the
  // collection may not have been dropped and recreated in between).
  Status AddImpl(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
               MatrixView latents, const std::vector<std::string>& payloads, bool latents_are_reps, BulkStats* stats,
               const ExtraPut* extra = nullptr);
  // Names of the collections over `set` holding at least one item stored by `model`.
  Result<std::vector<std::string>> CollectionsWithItemsOf(const std::string& model, const std::string& set) const;
  Result<SearchResults> SearchReps(const CollectionState& c, MatrixView reps, int64_t k, const SearchParams& p) const;
};

}  // namespace relgeo
