// Internal: the values the database stores under the keys of store/keys.h
// (docs/design.md §5): fixed-width little-endian numbers, float32 matrices, item
// records, collection state and anchor sets, and the JSON model and collection
// records. Every decoder checks sizes against the bytes it was given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/database.h"
#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::records {

void PutU32(std::string* s, uint32_t v);
void PutU64(std::string* s, uint64_t v);
// Callers check that pos + 4 (8) <= s.size().
uint32_t GetU32(const std::string& s, size_t pos);
uint64_t GetU64(const std::string& s, size_t pos);

// u64 rows, u64 cols, rows x cols float32.
std::string EncodeMatrix(MatrixView m);
Result<Matrix> DecodeMatrix(const std::string& s);

// u32 len, model name, u32 K, K x float32, payload (the rest).
std::string EncodeItem(const std::string& model, const float* rep, int64_t K, const std::string& payload);
// Decodes an item value; `rep` points into `s`. model and payload may be null.
// `rep` is only 1-byte aligned (it follows the model name): copy from it (memcpy,
// vector::assign), never load floats through it one by one.
Status DecodeItem(const std::string& s, std::string* model, const float** rep, int64_t* K, std::string* payload);

// Collection state: u64 version (mutation counter), u64 item count.
std::string EncodeState(uint64_t version, uint64_t count);
Status DecodeState(const std::string& s, uint64_t* version, uint64_t* count);
// Ingest progress of a resumable BulkAdd ("P" records): source rows and batches committed.
std::string EncodeIngest(uint64_t rows, uint64_t batches);
Status DecodeIngest(const std::string& s, uint64_t* rows, uint64_t* batches);

// Anchor set: u64 K, K x i64 sample ids.
std::string EncodeAnchorSet(const std::vector<int64_t>& sample_ids);
Result<std::vector<int64_t>> DecodeAnchorSet(const std::string& s);

struct ModelMeta {
  std::string name;
  int64_t latent_dim = 0, output_dim = 0;
  OutputDistance distance = OutputDistance::kEuclidean;
  bool has_encoder = false;
  int64_t map_bytes = 0;
};
std::string EncodeModel(const ModelMeta& m);
Result<ModelMeta> DecodeModel(const std::string& s);

struct CollectionMeta {
  std::string name;
  uint32_t cid = 0;
  CollectionOptions options;
  int64_t K = 0;
};
std::string EncodeCollection(const CollectionMeta& c);
Result<CollectionMeta> DecodeCollection(const std::string& s);

}  // namespace relgeo::records
