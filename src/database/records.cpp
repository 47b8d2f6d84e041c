// The stored value formats (records.h).
#include "database/records.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <limits>
#include <stdexcept>

#include "relgeo/relative_encoder.h"

namespace relgeo::records {

using json = nlohmann::json;

void PutU32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }
uint64_t GetU64(const std::string& s, size_t pos) {
  uint64_t v;
  std::memcpy(&v, s.data() + pos, 8);
  return v;
}
uint32_t GetU32(const std::string& s, size_t pos) {
  uint32_t v;
  std::memcpy(&v, s.data() + pos, 4);
  return v;
}

std::string EncodeMatrix(MatrixView m) {
  std::string s;
  PutU64(&s, m.rows());
  PutU64(&s, m.cols());
  s.append(reinterpret_cast<const char*>(m.data()), m.size() * sizeof(float));
  return s;
}
Result<Matrix> DecodeMatrix(const std::string& s) {
  if (s.size() < 16) return Status::Corruption("stored matrix is truncated");
  const uint64_t r = GetU64(s, 0), c = GetU64(s, 8);
  if (c == 0 || r > (1u << 30) || c > (1u << 30) || s.size() != 16 + r * c * 4)
    return Status::Corruption("stored matrix has a bad size");
  Matrix m(r, c);
  if (r * c > 0) std::memcpy(m.data(), s.data() + 16, r * c * 4);
  return m;
}

std::string EncodeItem(const std::string& model, const float* rep, int64_t K, const std::string& payload) {
  std::string s;
  s.reserve(8 + model.size() + K * 4 + payload.size());
  PutU32(&s, static_cast<uint32_t>(model.size()));
  s += model;
  PutU32(&s, static_cast<uint32_t>(K));
  s.append(reinterpret_cast<const char*>(rep), K * sizeof(float));
  s += payload;
  return s;
}
// Decodes an item value; `rep` points into `s`.
Status DecodeItem(const std::string& s, std::string* model, const float** rep, int64_t* K, std::string* payload) {
  if (s.size() < 4) return Status::Corruption("stored item is truncated");
  const uint32_t ml = GetU32(s, 0);
  if (s.size() < 8 + size_t{ml}) return Status::Corruption("stored item is truncated");
  if (model) model->assign(s.data() + 4, ml);
  const uint32_t k = GetU32(s, 4 + ml);
  const size_t off = 8 + ml;
  if (s.size() < off + size_t{k} * 4) return Status::Corruption("stored item is truncated");
  *rep = reinterpret_cast<const float*>(s.data() + off);
  *K = k;
  if (payload) payload->assign(s.data() + off + k * 4, s.size() - off - k * 4);
  return Status::OK();
}

std::string EncodeState(uint64_t version, uint64_t count) {
  std::string s;
  PutU64(&s, version);
  PutU64(&s, count);
  return s;
}

Status DecodeState(const std::string& s, uint64_t* version, uint64_t* count) {
  if (s.size() != 16) return Status::Corruption("collection state record has " + std::to_string(s.size()) + " bytes, expected 16");
  *version = GetU64(s, 0);
  *count = GetU64(s, 8);
  return Status::OK();
}

std::string EncodeIngest(uint64_t rows, uint64_t batches) { return EncodeState(rows, batches); }

Status DecodeIngest(const std::string& s, uint64_t* rows, uint64_t* batches) {
  if (s.size() != 16) return Status::Corruption("ingest progress record has " + std::to_string(s.size()) + " bytes, expected 16");
  *rows = GetU64(s, 0);
  *batches = GetU64(s, 8);
  return Status::OK();
}

std::string EncodeAnchorSet(const std::vector<int64_t>& sample_ids) {
  std::string s;
  PutU64(&s, sample_ids.size());
  s.append(reinterpret_cast<const char*>(sample_ids.data()), sample_ids.size() * 8);
  return s;
}

Result<std::vector<int64_t>> DecodeAnchorSet(const std::string& s) {
  if (s.size() < 8 || (s.size() - 8) % 8 != 0 || GetU64(s, 0) != (s.size() - 8) / 8)
    return Status::Corruption("anchor set record is damaged");
  std::vector<int64_t> ids(GetU64(s, 0));
  if (!ids.empty()) std::memcpy(ids.data(), s.data() + 8, ids.size() * 8);
  return ids;
}

namespace {
// A JSON integer in [lo, hi], else a damaged record (thrown, caught by the decoders).
// nlohmann's own conversions do not check: a float out of an integer type's range is
// undefined behaviour, a large integer wraps (found by fuzz/records_fuzzer.cpp).
int64_t Int(const json& j, const char* key, int64_t lo, int64_t hi) {
  const json& v = j.at(key);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo) return static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x >= lo && x <= hi) return x;
  } else {
    throw std::invalid_argument(std::string("'") + key + "' is not an integer");
  }
  throw std::out_of_range(std::string("'") + key + "' is out of range [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
}
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
}  // namespace

std::string EncodeModel(const ModelMeta& m) {
  return json{{"name", m.name}, {"latent_dim", m.latent_dim}, {"output_dim", m.output_dim},
              {"distance", OutputDistanceName(m.distance)}, {"has_encoder", m.has_encoder}, {"map_bytes", m.map_bytes}}.dump();
}
Result<ModelMeta> DecodeModel(const std::string& s) {
  try {
    json j = json::parse(s);
    ModelMeta m;
    m.name = j.at("name");
    m.latent_dim = Int(j, "latent_dim", 0, kInt64Max);
    m.output_dim = Int(j, "output_dim", 0, kInt64Max);
    auto d = ParseOutputDistance(j.at("distance").get<std::string>());
    if (!d.ok()) return Status::Corruption("model record: " + d.status().message());
    m.distance = *d;
    m.has_encoder = j.at("has_encoder");
    m.map_bytes = Int(j, "map_bytes", 0, kInt64Max);
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("model record is damaged: ") + e.what());
  }
}

std::string EncodeCollection(const CollectionMeta& c) {
  return json{{"name", c.name},   {"cid", c.cid},         {"anchor_set", c.options.anchor_set},
              {"index", c.options.index}, {"steps", c.options.steps}, {"mode", PathModeName(c.options.mode)},
              {"K", c.K}}.dump();
}
Result<CollectionMeta> DecodeCollection(const std::string& s) {
  try {
    json j = json::parse(s);
    CollectionMeta c;
    c.name = j.at("name");
    c.cid = static_cast<uint32_t>(Int(j, "cid", 0, std::numeric_limits<uint32_t>::max()));
    c.options.anchor_set = j.at("anchor_set");
    c.options.index = j.at("index");
    c.options.steps = static_cast<int>(Int(j, "steps", 1, kMaxSteps));
    auto mode = ParsePathMode(j.at("mode").get<std::string>());
    if (!mode.ok()) return Status::Corruption("collection record: " + mode.status().message());
    c.options.mode = *mode;
    c.K = Int(j, "K", 0, kMaxAnchors);
    return c;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("collection record is damaged: ") + e.what());
  }
}

}  // namespace relgeo::records
