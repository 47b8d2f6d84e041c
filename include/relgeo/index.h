// Vector indexes: one small interface with FAISS behind it (indexes/), chosen by
// a spec string in FAISS index_factory style. Cosine semantics are handled
// inside: vectors are L2-normalised on the way in (add and search) and scores
// are inner products of unit vectors, i.e. cosine similarities in [-1, 1].
//
//   "Flat"            exact search (IndexIDMap2 over IndexFlatIP), remove_ids;
//                     searched by relgeo's own kernel (docs/search.md)
//   "Flat,fp16"       the same, vectors stored as half precision in the index
//   "Flat,SQ8"        the same, 8-bit scalar-quantised (per-dimension ranges
//                     trained once TrainThreshold() vectors exist, float32 until then)
//   "HNSW32"          graph search, M = 32 (also "HNSW16,Flat", ...); deletes are
//                     tombstones, compacted by a rebuild when they exceed 25%
//   "IVF256,Flat"     inverted lists, nlist = 256 (also ",SQ8", ",PQ16"); trained
//                     on the data once TrainThreshold() vectors exist, exact
//                     search until then; remove_ids
//
// External ids are stable int64 values chosen by the caller; -1 is reserved
// (it marks "no result" and HNSW tombstones). Thread safety:
// const methods (Search, Serialize, size) may run concurrently with each other;
// Add/Remove need exclusive access (the Database serialises them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

inline constexpr size_t kMaxIndexSpecLength = 256;

struct IndexSpec {
  enum class Kind { kFlat, kHNSW, kIVF };
  Kind kind = Kind::kFlat;
  int hnsw_m = 32;            // HNSW: neighbours per node
  int ef_construction = 80;   // HNSW: build-time beam width (80: docs/search.md, recall 0.95 at efSearch 16)
  int nlist = 0;              // IVF: number of inverted lists
  std::string ivf_codec = "Flat";  // IVF: "Flat", "SQ8", "PQ<m>"
  std::string flat_codec;          // Flat: "" (float32), "fp16", "SQ8"; RocksDB keeps float32

  // "Flat", "Flat,fp16", "Flat,SQ8", "HNSW32", "HNSW32,Flat", "IVF256,Flat", "IVF1024,SQ8", "IVF256,PQ16";
  // at most kMaxIndexSpecLength bytes.
  static Result<IndexSpec> Parse(const std::string& spec);
  std::string ToString() const;
  // IVF: vectors needed before the index is trained (39 * nlist, FAISS's own
  // minimum for k-means without a warning; 39 * 256 more for PQ); Flat,SQ8: 1,000
  // (the per-dimension ranges). 0 otherwise.
  int64_t TrainThreshold() const;
};

// Limits of the per-call search parameters: efSearch sizes HNSW's candidate heap
// (2,000,000,000 allocated 23 GB), nprobe is at most the index's nlist (and so at
// most kMaxNlist, the largest nlist a spec may have).
inline constexpr int kMaxEfSearch = 100000;
inline constexpr int kMaxNlist = 1 << 20;

// Per-call search parameters; 0 means "the index default". Out of range is
// InvalidArgument from Search.
struct IndexSearchParams {
  int ef_search = 0;  // HNSW beam width, 0..kMaxEfSearch (default 64; raised to k when smaller)
  int nprobe = 0;     // IVF lists visited, 0..nlist (default 16, or nlist when smaller)
};

// InvalidArgument (naming the parameter and its range) unless `params` are within the
// limits above for an index of this spec.
Status CheckSearchParams(const IndexSpec& spec, const IndexSearchParams& params);

// Keeps an id when it returns true. Flat asks it about each row that would enter a
// query's current top k, one call at a time but possibly from relgeo's worker threads;
// HNSW and IVF apply it by over-fetching and filtering (FAISS 1.7.3 does not honour
// IDSelector in every index).
using IdFilter = std::function<bool(int64_t)>;

class VectorIndex {
 public:
  static Result<std::unique_ptr<VectorIndex>> Create(const IndexSpec& spec, int64_t dim);
  // From bytes written by Serialize (a relgeo header plus the FAISS index).
  static Result<std::unique_ptr<VectorIndex>> Deserialize(const std::string& bytes);
  // As above, but the stored FAISS headers are first checked against what the
  // caller knows (Corruption when they disagree, before FAISS parses the body): the
  // dimension, and the number of live vectors (HNSW may hold more: tombstones).
  static Result<std::unique_ptr<VectorIndex>> Deserialize(const std::string& bytes, int64_t expected_dim,
                                                          int64_t expected_size);

  virtual ~VectorIndex() = default;

  // Adds rows with the given ids, which must not be present already (the
  // Database removes an id before re-adding it). Rows are normalised inside.
  virtual Status Add(const int64_t* ids, MatrixView vectors) = 0;
  // Removes the ids that are present; absent ids are ignored. Returns how many went.
  virtual Result<int64_t> Remove(const int64_t* ids, int64_t n) = 0;
  // queries.rows() x k ids (-1 where fewer than k results) and cosine scores, best first.
  virtual Status Search(MatrixView queries, int64_t k, const IndexSearchParams& params, const IdFilter* filter,
                        int64_t* out_ids, float* out_scores) const = 0;
  virtual Result<std::string> Serialize() const = 0;

  virtual int64_t size() const = 0;  // live vectors (tombstones excluded)
  virtual int64_t dim() const = 0;
  virtual bool trained() const = 0;  // false: IVF still searching exactly
  virtual const IndexSpec& spec() const = 0;
};

}  // namespace relgeo
