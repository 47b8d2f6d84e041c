// relgeo::Database: the RocksDB store (src/store) + one VectorIndex per
// collection (indexes/) + cached RelativeEncoders. See include/relgeo/database.h.
#include "relgeo/database.h"

#include <zlib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

#include "store/store.h"

namespace relgeo {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

Status CheckName(const std::string& name, const char* what) {
  if (name.empty() || name.size() > 128)
    return Status::InvalidArgument(std::string(what) + " name must have 1-128 characters");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return Status::InvalidArgument(std::string(what) + " name '" + name + "' may only use letters, digits, '_', '-', '.'");
  return Status::OK();
}

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
  std::memcpy(m.data(), s.data() + 16, r * c * 4);
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

Status CheckFinite(MatrixView m, const char* what) {
  for (int64_t i = 0; i < m.size(); ++i)
    if (!std::isfinite(m.data()[i]))
      return Status::InvalidArgument(std::string(what) + " contain a non-finite value (row " +
                                     std::to_string(i / std::max<int64_t>(1, m.cols())) + ")");
  return Status::OK();
}

// Index file beside the database: magic, version, sequence, crc32(body), body size, body.
constexpr char kIndexMagic[] = "RGIDX001";

// Writer-preferring reader/writer lock: a writer waiting at the gate stops new
// readers, so a stream of searches cannot starve mutations (glibc's rwlock
// prefers readers).
class FairSharedMutex {
 public:
  void lock() {
    std::lock_guard<std::mutex> g(gate_);
    mu_.lock();
  }
  void unlock() { mu_.unlock(); }
  void lock_shared() {
    std::lock_guard<std::mutex> g(gate_);
    mu_.lock_shared();
  }
  void unlock_shared() { mu_.unlock_shared(); }

 private:
  std::mutex gate_;
  std::shared_mutex mu_;
};

struct ModelMeta {
  std::string name;
  int64_t latent_dim = 0, output_dim = 0;
  OutputDistance distance = OutputDistance::kEuclidean;
  bool has_encoder = false;
  int64_t map_bytes = 0;
};

json ModelToJson(const ModelMeta& m) {
  return json{{"name", m.name}, {"latent_dim", m.latent_dim}, {"output_dim", m.output_dim},
              {"distance", OutputDistanceName(m.distance)}, {"has_encoder", m.has_encoder}, {"map_bytes", m.map_bytes}};
}
Result<ModelMeta> ModelFromJson(const std::string& s) {
  try {
    json j = json::parse(s);
    ModelMeta m;
    m.name = j.at("name");
    m.latent_dim = j.at("latent_dim");
    m.output_dim = j.at("output_dim");
    auto d = ParseOutputDistance(j.at("distance").get<std::string>());
    if (!d.ok()) return Status::Corruption("model record: " + d.status().message());
    m.distance = *d;
    m.has_encoder = j.at("has_encoder");
    m.map_bytes = j.at("map_bytes");
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("model record is damaged: ") + e.what());
  }
}

struct CollectionMeta {
  std::string name;
  uint32_t cid = 0;
  CollectionOptions options;
  int64_t K = 0;
};
json CollectionToJson(const CollectionMeta& c) {
  return json{{"name", c.name},   {"cid", c.cid},         {"anchor_set", c.options.anchor_set},
              {"index", c.options.index}, {"steps", c.options.steps}, {"mode", PathModeName(c.options.mode)},
              {"K", c.K}};
}
Result<CollectionMeta> CollectionFromJson(const std::string& s) {
  try {
    json j = json::parse(s);
    CollectionMeta c;
    c.name = j.at("name");
    c.cid = j.at("cid");
    c.options.anchor_set = j.at("anchor_set");
    c.options.index = j.at("index");
    c.options.steps = j.at("steps");
    auto mode = ParsePathMode(j.at("mode").get<std::string>());
    if (!mode.ok()) return Status::Corruption("collection record: " + mode.status().message());
    c.options.mode = *mode;
    c.K = j.at("K");
    return c;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("collection record is damaged: ") + e.what());
  }
}

struct CollectionState {
  CollectionMeta meta;
  IndexSpec spec;
  std::unique_ptr<VectorIndex> index;
  uint64_t version = 0;
  int64_t count = 0;
  bool dirty = false;
  int64_t unsaved = 0;
  std::string index_state;
};

}  // namespace

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
  mutable std::map<std::tuple<std::string, std::string, int, int>, std::shared_ptr<RelativeEncoder>> encoders;

  std::string IndexPath(uint32_t cid) const { return dir + "/relgeo-index/" + std::to_string(cid) + ".idx"; }

  Status CheckOpen() const { return closed ? Status::FailedPrecondition("database is closed") : Status::OK(); }

  void DropCaches(const std::string& model) {
    std::lock_guard<std::mutex> l(cache_mu);
    maps.erase(model);
    const std::string enc_prefix = "\x01encoder:" + model + ":";
    for (auto it = maps.begin(); it != maps.end();)
      it = it->first.rfind(enc_prefix, 0) == 0 ? maps.erase(it) : std::next(it);
    for (auto it = encoders.begin(); it != encoders.end();)
      it = std::get<0>(it->first) == model ? encoders.erase(it) : std::next(it);
  }

  Result<ModelMeta> GetModel(const std::string& name) const {
    RELGEO_RETURN_IF_ERROR(CheckName(name, "model"));
    RELGEO_ASSIGN_OR_RETURN(auto v, store->Get("M" + name));
    if (!v) return Status::NotFound("no model named '" + name + "'");
    return ModelFromJson(*v);
  }

  Result<std::vector<int64_t>> GetAnchorSet(const std::string& name) const {
    RELGEO_RETURN_IF_ERROR(CheckName(name, "anchor set"));
    RELGEO_ASSIGN_OR_RETURN(auto v, store->Get("A" + name));
    if (!v) return Status::NotFound("no anchor set named '" + name + "'");
    if (v->size() < 8 || v->size() != 8 + GetU64(*v, 0) * 8) return Status::Corruption("anchor set record is damaged");
    std::vector<int64_t> ids(GetU64(*v, 0));
    std::memcpy(ids.data(), v->data() + 8, ids.size() * 8);
    return ids;
  }

  Result<const CollectionState*> GetCollection(const std::string& name) const {
    RELGEO_RETURN_IF_ERROR(CheckName(name, "collection"));
    auto it = collections.find(name);
    if (it == collections.end()) return Status::NotFound("no collection named '" + name + "'");
    return &it->second;
  }

  Result<std::shared_ptr<MetricMap>> GetMap(const ModelMeta& m) const {
    {
      std::lock_guard<std::mutex> l(cache_mu);
      auto it = maps.find(m.name);
      if (it != maps.end()) return it->second;
    }
    RELGEO_ASSIGN_OR_RETURN(auto bytes, store->Get("B" + m.name));
    if (!bytes) return Status::Corruption("model '" + m.name + "' has no stored metric map");
    MetricMapOptions mo;
    mo.input_dim = m.latent_dim;
    mo.distance = m.distance;
    auto map = MetricMap::FromBytes(*bytes, mo);
    if (!map.ok()) return Status::Corruption("stored metric map of model '" + m.name + "' fails to load: " + map.status().message());
    std::lock_guard<std::mutex> l(cache_mu);
    return maps.emplace(m.name, *map).first->second;
  }

  Result<std::shared_ptr<RelativeEncoder>> GetEncoder(const std::string& model, const std::string& set,
                                                      const EncoderOptions& eo) const {
    auto key = std::make_tuple(model, set, eo.steps, static_cast<int>(eo.mode));
    {
      std::lock_guard<std::mutex> l(cache_mu);
      auto it = encoders.find(key);
      if (it != encoders.end()) return it->second;
    }
    RELGEO_ASSIGN_OR_RETURN(ModelMeta m, GetModel(model));
    RELGEO_ASSIGN_OR_RETURN(auto anchor_ids, GetAnchorSet(set));
    RELGEO_ASSIGN_OR_RETURN(auto lat, store->Get(store::AnchorLatentsKey(model, set)));
    if (!lat) return Status::NotFound("model '" + model + "' has no anchor latents for anchor set '" + set + "'");
    RELGEO_ASSIGN_OR_RETURN(Matrix anchors, DecodeMatrix(*lat));
    if (anchors.rows() != static_cast<int64_t>(anchor_ids.size()) || anchors.cols() != m.latent_dim)
      return Status::Corruption("stored anchor latents of '" + model + "' do not match its anchor set");
    RELGEO_ASSIGN_OR_RETURN(auto map, GetMap(m));
    RELGEO_ASSIGN_OR_RETURN(auto enc, RelativeEncoder::Create(map, anchors, eo));
    std::shared_ptr<RelativeEncoder> shared(std::move(enc));
    std::lock_guard<std::mutex> l(cache_mu);
    return encoders.emplace(key, shared).first->second;
  }

  // The model's encoder module (raw input -> latent), cached per input width.
  Result<Matrix> EncodeInputs(const std::string& model, MatrixView inputs) const {
    RELGEO_ASSIGN_OR_RETURN(ModelMeta m, GetModel(model));
    if (!m.has_encoder) return Status::FailedPrecondition("model '" + model + "' has no encoder (register it with one)");
    RELGEO_RETURN_IF_ERROR(CheckLatents(inputs, 0, "inputs"));
    const std::string key = "\x01encoder:" + model + ":" + std::to_string(inputs.cols());
    std::shared_ptr<MetricMap> enc;
    {
      std::lock_guard<std::mutex> l(cache_mu);
      auto it = maps.find(key);
      if (it != maps.end()) enc = it->second;
    }
    if (!enc) {
      RELGEO_ASSIGN_OR_RETURN(auto bytes, store->Get("E" + model));
      if (!bytes) return Status::Corruption("model '" + model + "' lost its encoder bytes");
      MetricMapOptions mo;
      mo.input_dim = inputs.cols();
      auto loaded = MetricMap::FromBytes(*bytes, mo);
      if (!loaded.ok()) return loaded.status().WithContext("encoder of model '" + model + "'");
      std::lock_guard<std::mutex> l(cache_mu);
      enc = maps.emplace(key, *loaded).first->second;
    }
    if (enc->output_dim() != m.latent_dim)
      return Status::InvalidArgument("encoder of model '" + model + "' outputs " + std::to_string(enc->output_dim()) +
                                     " values per row, the model's latent dimension is " + std::to_string(m.latent_dim));
    return enc->Forward(inputs);
  }

  // Encodes latents for a collection (shared lock held by the caller).
  Result<Matrix> EncodeFor(const CollectionState& c, const std::string& model, MatrixView latents) const {
    RELGEO_ASSIGN_OR_RETURN(ModelMeta m, GetModel(model));
    RELGEO_RETURN_IF_ERROR(CheckLatents(latents, m.latent_dim, "latents").WithContext("model '" + model + "'"));
    EncoderOptions eo;
    eo.steps = c.meta.options.steps;
    eo.mode = c.meta.options.mode;
    RELGEO_ASSIGN_OR_RETURN(auto enc, GetEncoder(model, c.meta.options.anchor_set, eo));
    RELGEO_ASSIGN_OR_RETURN(Matrix reps, enc->Encode(latents));
    RELGEO_RETURN_IF_ERROR(CheckFinite(reps, "representations computed by the metric map"));
    return reps;
  }

  // ---- index files
  Status SaveIndex(CollectionState& c) {
    RELGEO_ASSIGN_OR_RETURN(std::string body, c.index->Serialize());
    std::string head(kIndexMagic, 8);
    PutU64(&head, c.version);
    PutU64(&head, store->LatestSequence());
    PutU32(&head, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
    PutU64(&head, body.size());
    std::error_code ec;
    fs::create_directories(dir + "/relgeo-index", ec);
    const std::string path = IndexPath(c.meta.cid), tmp = path + ".tmp";
    {
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) return Status::IOError("cannot write index file " + tmp);
      bool ok = true;
      for (const std::string* part : {&head, &body}) {
        size_t off = 0;
        while (ok && off < part->size()) {
          ssize_t w = ::write(fd, part->data() + off, part->size() - off);
          if (w <= 0) ok = false; else off += w;
        }
      }
      ok = ok && ::fsync(fd) == 0;
      ::close(fd);
      if (!ok) return Status::IOError("cannot write index file " + tmp);
    }
    fs::rename(tmp, path, ec);
    if (ec) return Status::IOError("cannot rename index file into place: " + ec.message());
    c.dirty = false;
    c.unsaved = 0;
    return Status::OK();
  }

  // Loads the saved index if it matches the stored state; returns why not otherwise.
  Result<std::unique_ptr<VectorIndex>> LoadIndex(const CollectionState& c, std::string* why) const {
    const std::string path = IndexPath(c.meta.cid);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      *why = "missing";
      return Status::NotFound("missing");
    }
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t head = 8 + 8 + 8 + 4 + 8;
    if (s.size() < head || s.compare(0, 8, kIndexMagic, 8) != 0 || GetU64(s, 28) != s.size() - head) {
      *why = "corrupt: bad header or truncated";
      return Status::Corruption(*why);
    }
    const uint64_t version = GetU64(s, 8);
    const uint32_t crc = GetU32(s, 24);
    if (crc32(0, reinterpret_cast<const Bytef*>(s.data() + head), s.size() - head) != crc) {
      *why = "corrupt: checksum mismatch";
      return Status::Corruption(*why);
    }
    if (version != c.version) {
      *why = "stale: index version " + std::to_string(version) + ", database version " + std::to_string(c.version);
      return Status::FailedPrecondition(*why);
    }
    auto idx = VectorIndex::Deserialize(s.substr(head));
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

  Status RebuildIndex(CollectionState& c) {
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
      inner = DecodeItem(v, nullptr, &rep, &K, nullptr);
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

  Status LoadCollections() {
    std::vector<CollectionMeta> metas;
    Status inner;
    RELGEO_RETURN_IF_ERROR(store->Scan("C", [&](const std::string&, const std::string& v) {
      auto m = CollectionFromJson(v);
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
      if (!st || st->size() != 16) return Status::Corruption("collection '" + m.name + "' has no state record");
      c.version = GetU64(*st, 0);
      c.count = static_cast<int64_t>(GetU64(*st, 8));
      std::string why;
      auto idx = LoadIndex(c, &why);
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

  // Writes items (representations already computed) under the exclusive lock.
  Status CommitItems(CollectionState& c, const std::string& model, const int64_t* ids, MatrixView reps,
                     const std::vector<std::string>* payloads, double* store_s, double* index_s) {
    const int64_t n = reps.rows();
    auto t0 = Clock::now();
    std::vector<std::string> keys(n);
    for (int64_t i = 0; i < n; ++i) keys[i] = store::ItemKey(c.meta.cid, ids[i]);
    RELGEO_ASSIGN_OR_RETURN(auto existing, store->MultiGet(keys));
    std::vector<int64_t> replaced;
    store::WriteBatch batch;
    for (int64_t i = 0; i < n; ++i) {
      if (existing[i]) replaced.push_back(ids[i]);
      batch.Put(keys[i], EncodeItem(model, reps.row(i), reps.cols(), payloads && !payloads->empty() ? (*payloads)[i] : ""));
    }
    const int64_t new_count = c.count + n - static_cast<int64_t>(replaced.size());
    batch.Put(store::StateKey(c.meta.cid), EncodeState(c.version + 1, new_count));
    RELGEO_RETURN_IF_ERROR(store->Write(batch));
    c.version += 1;
    c.count = new_count;
    auto t1 = Clock::now();
    Status s = Status::OK();
    if (!replaced.empty()) {
      auto r = c.index->Remove(replaced.data(), static_cast<int64_t>(replaced.size()));
      if (!r.ok()) s = r.status();
    }
    if (s.ok()) s = c.index->Add(ids, reps);
    c.dirty = true;
    c.unsaved += n;
    if (!s.ok()) {
      // RocksDB has the batch; bring the derived index back in line with it.
      Status rb = RebuildIndex(c);
      if (!rb.ok()) return rb.WithContext("index update failed (" + s.message() + ") and rebuild failed");
    }
    auto t2 = Clock::now();
    if (store_s) *store_s += Seconds(t0, t1);
    if (index_s) *index_s += Seconds(t1, t2);
    if (options.index_save_every > 0 && c.unsaved >= options.index_save_every) RELGEO_RETURN_IF_ERROR(SaveIndex(c));
    return Status::OK();
  }

  Status ValidateIds(const std::vector<int64_t>& ids, int64_t rows, const std::vector<std::string>& payloads) const {
    if (static_cast<int64_t>(ids.size()) != rows)
      return Status::InvalidArgument("got " + std::to_string(ids.size()) + " ids for " + std::to_string(rows) + " rows");
    if (!payloads.empty() && static_cast<int64_t>(payloads.size()) != rows)
      return Status::InvalidArgument("got " + std::to_string(payloads.size()) + " payloads for " + std::to_string(rows) + " rows");
    std::unordered_set<int64_t> seen;
    seen.reserve(ids.size() * 2);
    for (int64_t id : ids) {
      if (id == -1) return Status::InvalidArgument("id -1 is reserved (it marks missing results)");
      if (!seen.insert(id).second) return Status::InvalidArgument("duplicate id " + std::to_string(id) + " in one call");
    }
    return Status::OK();
  }

  // Encode under the shared lock, then commit under the exclusive lock (the
  // collection may not have been dropped and recreated in between).
  Status AddImpl(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
                 MatrixView latents, const std::vector<std::string>& payloads, bool latents_are_reps, BulkStats* stats) {
    RELGEO_RETURN_IF_ERROR(ValidateIds(ids, latents.rows(), payloads));
    Matrix reps;
    uint32_t cid;
    auto t0 = Clock::now();
    {
      std::shared_lock<FairSharedMutex> l(mu);
      RELGEO_RETURN_IF_ERROR(CheckOpen());
      RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, GetCollection(collection));
      cid = c->meta.cid;
      if (latents_are_reps) {
        RELGEO_ASSIGN_OR_RETURN(ModelMeta m, GetModel(model));
        (void)m;
        RELGEO_RETURN_IF_ERROR(CheckLatents(latents, c->meta.K, "representations"));
        reps = Matrix::CopyOf(latents);
      } else {
        RELGEO_ASSIGN_OR_RETURN(reps, EncodeFor(*c, model, latents));
      }
    }
    auto t1 = Clock::now();
    if (stats) stats->encode_seconds += Seconds(t0, t1);
    std::unique_lock<FairSharedMutex> l(mu);
    RELGEO_RETURN_IF_ERROR(CheckOpen());
    auto it = collections.find(collection);
    if (it == collections.end() || it->second.meta.cid != cid)
      return Status::FailedPrecondition("collection '" + collection + "' was dropped during the call");
    return CommitItems(it->second, model, ids.data(), reps, &payloads, stats ? &stats->store_seconds : nullptr,
                       stats ? &stats->index_seconds : nullptr);
  }

  Result<SearchResults> SearchReps(const CollectionState& c, MatrixView reps, int64_t k, const SearchParams& p) const {
    if (k <= 0) return Status::InvalidArgument("k must be positive");
    if (k > 100000) return Status::InvalidArgument("k is too large (at most 100000)");
    SearchResults out;
    out.queries = reps.rows();
    out.k = k;
    out.ids.resize(reps.rows() * k);
    out.scores.resize(reps.rows() * k);
    IndexSearchParams ip;
    ip.ef_search = p.ef_search;
    ip.nprobe = p.nprobe;
    RELGEO_RETURN_IF_ERROR(c.index->Search(reps, k, ip, p.filter ? &p.filter : nullptr, out.ids.data(), out.scores.data()));
    return out;
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() { (void)Close(); }

Result<std::unique_ptr<Database>> Database::Open(const std::string& dir, const DatabaseOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("database directory is empty");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  RELGEO_ASSIGN_OR_RETURN(impl->store, store::Store::Open(dir, options.create_if_missing, options.sync_writes));
  RELGEO_RETURN_IF_ERROR(impl->LoadCollections());
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

const std::string& Database::path() const { return impl_->dir; }

Status Database::SaveIndexes() {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  for (auto& [name, c] : impl_->collections)
    if (c.dirty) RELGEO_RETURN_IF_ERROR(impl_->SaveIndex(c).WithContext("saving index of '" + name + "'"));
  return Status::OK();
}

Status Database::Close() {
  if (!impl_) return Status::OK();
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  if (impl_->closed) return Status::OK();
  Status first;
  for (auto& [name, c] : impl_->collections) {
    if (!c.dirty) continue;
    Status s = impl_->SaveIndex(c);
    if (!s.ok() && first.ok()) first = s.WithContext("saving index of '" + name + "'");
  }
  Status s = impl_->store->Close();
  if (!s.ok() && first.ok()) first = s;
  impl_->closed = true;
  impl_->collections.clear();
  return first;
}

// ---------------------------------------------------------------- anchor sets
Status Database::CreateAnchorSet(const std::string& name, const std::vector<int64_t>& sample_ids) {
  RELGEO_RETURN_IF_ERROR(CheckName(name, "anchor set"));
  if (sample_ids.empty()) return Status::InvalidArgument("anchor set '" + name + "' needs at least one sample id");
  std::unordered_set<int64_t> seen(sample_ids.begin(), sample_ids.end());
  if (seen.size() != sample_ids.size()) return Status::InvalidArgument("anchor set '" + name + "' has duplicate sample ids");
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(auto v, impl_->store->Get("A" + name));
  if (v) return Status::AlreadyExists("anchor set '" + name + "' already exists");
  std::string s;
  PutU64(&s, sample_ids.size());
  s.append(reinterpret_cast<const char*>(sample_ids.data()), sample_ids.size() * 8);
  store::WriteBatch b;
  b.Put("A" + name, s);
  return impl_->store->Write(b);
}

Status Database::DropAnchorSet(const std::string& name) {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(auto ids, impl_->GetAnchorSet(name));
  (void)ids;
  for (const auto& [cname, c] : impl_->collections)
    if (c.meta.options.anchor_set == name)
      return Status::FailedPrecondition("anchor set '" + name + "' is used by collection '" + cname + "'");
  store::WriteBatch b;
  b.Delete("A" + name);
  std::vector<std::string> models;
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan("L", [&](const std::string& k, const std::string&) {
    auto z = k.find('\0');
    if (z != std::string::npos && k.substr(z + 1) == name) {
      b.Delete(k);
      models.push_back(k.substr(1, z - 1));
    }
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  for (const auto& m : models) impl_->DropCaches(m);
  return Status::OK();
}

Result<std::vector<AnchorSetInfo>> Database::ListAnchorSets() const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  std::vector<AnchorSetInfo> out;
  Status inner;
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan("A", [&](const std::string& k, const std::string& v) {
    if (v.size() < 8 || v.size() != 8 + GetU64(v, 0) * 8) {
      inner = Status::Corruption("anchor set record '" + k.substr(1) + "' is damaged");
      return false;
    }
    AnchorSetInfo a;
    a.name = k.substr(1);
    a.sample_ids.resize(GetU64(v, 0));
    std::memcpy(a.sample_ids.data(), v.data() + 8, a.sample_ids.size() * 8);
    out.push_back(std::move(a));
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(inner);
  return out;
}

// ---------------------------------------------------------------- models
Status Database::RegisterModel(const ModelSpec& spec) {
  RELGEO_RETURN_IF_ERROR(CheckName(spec.name, "model"));
  if (!spec.encoder_bytes.empty() && spec.encoder_bytes.compare(0, 2, "PK") != 0)
    return Status::InvalidArgument("encoder of model '" + spec.name + "' is not a TorchScript archive");
  MetricMapOptions mo;
  mo.input_dim = spec.latent_dim;
  mo.distance = spec.distance;
  auto map = MetricMap::FromBytes(spec.map_bytes, mo);
  if (!map.ok()) return map.status().WithContext("metric map of model '" + spec.name + "' fails to load");
  ModelMeta m;
  m.name = spec.name;
  m.latent_dim = (*map)->input_dim();
  m.output_dim = (*map)->output_dim();
  m.distance = spec.distance;
  m.has_encoder = !spec.encoder_bytes.empty();
  m.map_bytes = static_cast<int64_t>(spec.map_bytes.size());
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(auto existing, impl_->store->Get("M" + spec.name));
  if (existing) return Status::AlreadyExists("model '" + spec.name + "' already exists");
  store::WriteBatch b;
  if (!spec.anchor_set.empty()) {
    RELGEO_ASSIGN_OR_RETURN(auto ids, impl_->GetAnchorSet(spec.anchor_set));
    MatrixView a = spec.anchor_latents;
    if (a.rows() != static_cast<int64_t>(ids.size()))
      return Status::InvalidArgument("anchor latents have " + std::to_string(a.rows()) + " rows, anchor set '" +
                                     spec.anchor_set + "' has " + std::to_string(ids.size()) + " anchors");
    RELGEO_RETURN_IF_ERROR(CheckLatents(a, m.latent_dim, "anchor latents").WithContext("model '" + spec.name + "'"));
    b.Put(store::AnchorLatentsKey(spec.name, spec.anchor_set), EncodeMatrix(a));
  } else if (!spec.anchor_latents.empty()) {
    return Status::InvalidArgument("anchor latents given without an anchor set");
  }
  b.Put("M" + spec.name, ModelToJson(m).dump());
  b.Put("B" + spec.name, spec.map_bytes);
  if (m.has_encoder) b.Put("E" + spec.name, spec.encoder_bytes);
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  std::lock_guard<std::mutex> cl(impl_->cache_mu);
  impl_->maps[spec.name] = *map;
  return Status::OK();
}

Status Database::AttachAnchors(const std::string& model, const std::string& anchor_set, MatrixView anchor_latents) {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  RELGEO_ASSIGN_OR_RETURN(auto ids, impl_->GetAnchorSet(anchor_set));
  if (anchor_latents.rows() != static_cast<int64_t>(ids.size()))
    return Status::InvalidArgument("anchor latents have " + std::to_string(anchor_latents.rows()) +
                                   " rows, anchor set '" + anchor_set + "' has " + std::to_string(ids.size()) + " anchors");
  RELGEO_RETURN_IF_ERROR(CheckLatents(anchor_latents, m.latent_dim, "anchor latents").WithContext("model '" + model + "'"));
  store::WriteBatch b;
  b.Put(store::AnchorLatentsKey(model, anchor_set), EncodeMatrix(anchor_latents));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  impl_->DropCaches(model);
  return Status::OK();
}

Status Database::DropModel(const std::string& model) {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  store::WriteBatch b;
  b.Delete("M" + model);
  b.Delete("B" + model);
  b.Delete("E" + model);
  const std::string prefix = "L" + model + std::string(1, '\0');
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan(prefix, [&](const std::string& k, const std::string&) {
    b.Delete(k);
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  impl_->DropCaches(m.name);
  return Status::OK();
}

Result<std::vector<ModelInfo>> Database::ListModels() const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  std::vector<ModelInfo> out;
  Status inner;
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan("M", [&](const std::string&, const std::string& v) {
    auto m = ModelFromJson(v);
    if (!m.ok()) {
      inner = m.status();
      return false;
    }
    ModelInfo i;
    i.name = m->name;
    i.latent_dim = m->latent_dim;
    i.output_dim = m->output_dim;
    i.distance = m->distance;
    i.map_bytes = m->map_bytes;
    i.has_encoder = m->has_encoder;
    out.push_back(std::move(i));
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(inner);
  for (auto& i : out) {
    const std::string prefix = "L" + i.name + std::string(1, '\0');
    RELGEO_RETURN_IF_ERROR(impl_->store->Scan(prefix, [&](const std::string& k, const std::string&) {
      i.anchor_sets.push_back(k.substr(prefix.size()));
      return true;
    }));
  }
  return out;
}

Result<std::string> Database::ModelEncoderBytes(const std::string& model) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  if (!m.has_encoder) return std::string();
  RELGEO_ASSIGN_OR_RETURN(auto v, impl_->store->Get("E" + model));
  if (!v) return Status::Corruption("model '" + model + "' lost its encoder bytes");
  return *v;
}

// ---------------------------------------------------------------- collections
Status Database::CreateCollection(const std::string& name, const CollectionOptions& options) {
  RELGEO_RETURN_IF_ERROR(CheckName(name, "collection"));
  if (options.steps < 1 || options.steps > 4096) return Status::InvalidArgument("steps must be in [1, 4096]");
  RELGEO_ASSIGN_OR_RETURN(IndexSpec spec, IndexSpec::Parse(options.index));
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  if (impl_->collections.count(name)) return Status::AlreadyExists("collection '" + name + "' already exists");
  RELGEO_ASSIGN_OR_RETURN(auto anchor_ids, impl_->GetAnchorSet(options.anchor_set));
  CollectionState c;
  c.meta.name = name;
  c.meta.options = options;
  c.meta.options.index = spec.ToString();
  c.meta.K = static_cast<int64_t>(anchor_ids.size());
  c.spec = spec;
  RELGEO_ASSIGN_OR_RETURN(c.index, VectorIndex::Create(spec, c.meta.K));
  RELGEO_ASSIGN_OR_RETURN(auto next, impl_->store->Get("N"));
  c.meta.cid = next && next->size() == 4 ? GetU32(*next, 0) : 1;
  std::string nv;
  PutU32(&nv, c.meta.cid + 1);
  store::WriteBatch b;
  b.Put("N", nv);
  b.Put("C" + name, CollectionToJson(c.meta).dump());
  b.Put(store::StateKey(c.meta.cid), EncodeState(0, 0));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  c.index_state = "new";
  c.dirty = true;
  impl_->collections.emplace(name, std::move(c));
  return Status::OK();
}

Status Database::DropCollection(const std::string& name) {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(name));
  const uint32_t cid = c->meta.cid;
  store::WriteBatch b;
  b.Delete("C" + name);
  b.Delete(store::StateKey(cid));
  b.DeleteRange(store::ItemPrefix(cid), store::ItemPrefix(cid + 1));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  impl_->collections.erase(name);
  std::error_code ec;
  fs::remove(impl_->IndexPath(cid), ec);
  return Status::OK();
}

namespace {
CollectionInfo InfoOf(const CollectionState& c) {
  CollectionInfo i;
  i.name = c.meta.name;
  i.options = c.meta.options;
  i.items = c.count;
  i.indexed = c.index->size();
  i.index_trained = c.index->trained();
  i.version = c.version;
  i.index_state = c.index_state;
  return i;
}
}  // namespace

Result<std::vector<CollectionInfo>> Database::ListCollections() const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  std::vector<CollectionInfo> out;
  for (const auto& [name, c] : impl_->collections) out.push_back(InfoOf(c));
  return out;
}

Result<CollectionInfo> Database::GetCollectionInfo(const std::string& name) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(name));
  return InfoOf(*c);
}

// ---------------------------------------------------------------- items
Status Database::Add(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
                     MatrixView latents, const std::vector<std::string>& payloads) {
  return impl_->AddImpl(collection, model, ids, latents, payloads, false, nullptr);
}

Status Database::AddRepresentations(const std::string& collection, const std::string& model,
                                    const std::vector<int64_t>& ids, MatrixView reps,
                                    const std::vector<std::string>& payloads) {
  return impl_->AddImpl(collection, model, ids, reps, payloads, true, nullptr);
}

Result<BulkStats> Database::BulkAdd(const std::string& collection, const std::string& model,
                                    const BatchSource& source, const BulkOptions& options) {
  if (options.batch_size <= 0) return Status::InvalidArgument("batch_size must be positive");
  {
    // Fail fast on unknown names before reading any data.
    std::shared_lock<FairSharedMutex> l(impl_->mu);
    RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
    RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
    RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
    (void)c;
    (void)m;
  }
  BulkStats stats;
  auto start = Clock::now();
  std::vector<int64_t> ids;
  Matrix latents;
  static const std::vector<std::string> kNoPayloads;
  while (true) {
    ids.clear();
    RELGEO_ASSIGN_OR_RETURN(int64_t n, source(options.batch_size, &ids, &latents));
    if (n <= 0) break;
    if (latents.rows() != n || static_cast<int64_t>(ids.size()) != n)
      return Status::InvalidArgument("batch source returned inconsistent row counts");
    Status s = impl_->AddImpl(collection, model, ids, latents, kNoPayloads, false, &stats);
    if (!s.ok()) return s.WithContext("batch " + std::to_string(stats.batches + 1) + " (items " +
                                      std::to_string(stats.items) + "..)");
    stats.items += n;
    stats.batches += 1;
    if (options.progress) {
      BulkProgress p{stats.items, options.total, stats.batches};
      if (!options.progress(p)) break;
    }
  }
  {
    std::unique_lock<FairSharedMutex> l(impl_->mu);
    RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
    auto it = impl_->collections.find(collection);
    if (it != impl_->collections.end() && it->second.dirty) {
      auto t0 = Clock::now();
      RELGEO_RETURN_IF_ERROR(impl_->SaveIndex(it->second));
      stats.index_seconds += Seconds(t0, Clock::now());
    }
  }
  stats.total_seconds = Seconds(start, Clock::now());
  return stats;
}

Result<BulkStats> Database::BulkAdd(const std::string& collection, const std::string& model,
                                    const std::vector<int64_t>& ids, MatrixView latents, const BulkOptions& options) {
  if (!ids.empty() && static_cast<int64_t>(ids.size()) != latents.rows())
    return Status::InvalidArgument("got " + std::to_string(ids.size()) + " ids for " + std::to_string(latents.rows()) + " rows");
  int64_t pos = 0;
  BulkOptions o = options;
  if (o.total < 0) o.total = latents.rows();
  BatchSource src = [&](int64_t max_rows, std::vector<int64_t>* out_ids, Matrix* out) -> Result<int64_t> {
    const int64_t n = std::min(max_rows, latents.rows() - pos);
    if (n <= 0) return int64_t{0};
    *out = Matrix::CopyOf(latents.RowSlice(pos, n));
    out_ids->resize(n);
    for (int64_t i = 0; i < n; ++i) (*out_ids)[i] = ids.empty() ? pos + i : ids[pos + i];
    pos += n;
    return n;
  };
  return BulkAdd(collection, model, src, o);
}

Result<int64_t> Database::Remove(const std::string& collection, const std::vector<int64_t>& ids) {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_RETURN_IF_ERROR(CheckName(collection, "collection"));
  auto it = impl_->collections.find(collection);
  if (it == impl_->collections.end()) return Status::NotFound("no collection named '" + collection + "'");
  CollectionState& c = it->second;
  std::vector<int64_t> uniq(ids.begin(), ids.end());
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  std::vector<std::string> keys;
  for (int64_t id : uniq) keys.push_back(store::ItemKey(c.meta.cid, id));
  RELGEO_ASSIGN_OR_RETURN(auto existing, impl_->store->MultiGet(keys));
  std::vector<int64_t> gone;
  store::WriteBatch b;
  for (size_t i = 0; i < keys.size(); ++i)
    if (existing[i]) {
      b.Delete(keys[i]);
      gone.push_back(uniq[i]);
    }
  if (gone.empty()) return int64_t{0};
  const int64_t new_count = c.count - static_cast<int64_t>(gone.size());
  b.Put(store::StateKey(c.meta.cid), EncodeState(c.version + 1, new_count));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  c.version += 1;
  c.count = new_count;
  c.dirty = true;
  c.unsaved += static_cast<int64_t>(gone.size());
  auto r = c.index->Remove(gone.data(), static_cast<int64_t>(gone.size()));
  if (!r.ok()) RELGEO_RETURN_IF_ERROR(impl_->RebuildIndex(c));
  if (impl_->options.index_save_every > 0 && c.unsaved >= impl_->options.index_save_every)
    RELGEO_RETURN_IF_ERROR(impl_->SaveIndex(c));
  return static_cast<int64_t>(gone.size());
}

Result<Item> Database::Get(const std::string& collection, int64_t id) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_ASSIGN_OR_RETURN(auto v, impl_->store->Get(store::ItemKey(c->meta.cid, id)));
  if (!v) return Status::NotFound("no item " + std::to_string(id) + " in collection '" + collection + "'");
  Item item;
  item.id = id;
  const float* rep;
  int64_t K;
  RELGEO_RETURN_IF_ERROR(DecodeItem(*v, &item.model, &rep, &K, &item.payload));
  item.representation.assign(rep, rep + K);
  return item;
}

// ---------------------------------------------------------------- queries
Result<SearchResults> Database::Search(const std::string& collection, const std::string& model, MatrixView latents,
                                       int64_t k, const SearchParams& params) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_ASSIGN_OR_RETURN(Matrix reps, impl_->EncodeFor(*c, model, latents));
  return impl_->SearchReps(*c, reps, k, params);
}

Result<SearchResults> Database::SearchRepresentations(const std::string& collection, MatrixView reps, int64_t k,
                                                      const SearchParams& params) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_RETURN_IF_ERROR(CheckLatents(reps, c->meta.K, "representations"));
  return impl_->SearchReps(*c, reps, k, params);
}

Result<Matrix> Database::EncodeInputs(const std::string& model, MatrixView inputs) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  return impl_->EncodeInputs(model, inputs);
}

Result<SearchResults> Database::SearchInputs(const std::string& collection, const std::string& model,
                                             MatrixView inputs, int64_t k, const SearchParams& params) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_ASSIGN_OR_RETURN(Matrix latents, impl_->EncodeInputs(model, inputs));
  RELGEO_ASSIGN_OR_RETURN(Matrix reps, impl_->EncodeFor(*c, model, latents));
  return impl_->SearchReps(*c, reps, k, params);
}

Result<Matrix> Database::Encode(const std::string& model, const std::string& anchor_set, MatrixView latents,
                                const EncoderOptions& options) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, m.latent_dim, "latents").WithContext("model '" + model + "'"));
  RELGEO_ASSIGN_OR_RETURN(auto enc, impl_->GetEncoder(model, anchor_set, options));
  return enc->Encode(latents);
}

}  // namespace relgeo
