// relgeo::Database (include/relgeo/database.h): opening and closing, anchor sets,
// models and collections. The other files of this folder are listed in
// database_impl.h.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "database/database_impl.h"

namespace relgeo {
namespace {
namespace fs = std::filesystem;
}  // namespace

Status CheckName(const std::string& name, const char* what) {
  if (name.empty() || name.size() > 128)
    return Status::InvalidArgument(std::string(what) + " name must have 1-128 characters, got " +
                                   std::to_string(name.size()));
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return Status::InvalidArgument(std::string(what) + " name '" + PrintableText(name) +
                                     "' may only use letters, digits, '_', '-', '.'");
  return Status::OK();
}

Status CheckFinite(MatrixView m, const char* what) {
  for (int64_t i = 0; i < m.size(); ++i)
    if (!std::isfinite(m.data()[i]))
      return Status::InvalidArgument(std::string(what) + " contain a non-finite value (row " +
                                     std::to_string(i / std::max<int64_t>(1, m.cols())) + ")");
  return Status::OK();
}

Result<ModelMeta> Database::Impl::GetModel(const std::string& name) const {
  RELGEO_RETURN_IF_ERROR(CheckName(name, "model"));
  RELGEO_ASSIGN_OR_RETURN(auto v, store->Get(store::ModelKey(name)));
  if (!v) return Status::NotFound("no model named '" + name + "'");
  return records::DecodeModel(*v);
}

Result<std::vector<int64_t>> Database::Impl::GetAnchorSet(const std::string& name) const {
  RELGEO_RETURN_IF_ERROR(CheckName(name, "anchor set"));
  RELGEO_ASSIGN_OR_RETURN(auto v, store->Get(store::AnchorSetKey(name)));
  if (!v) return Status::NotFound("no anchor set named '" + name + "'");
  return records::DecodeAnchorSet(*v);
}

Result<const CollectionState*> Database::Impl::GetCollection(const std::string& name) const {
  RELGEO_RETURN_IF_ERROR(CheckName(name, "collection"));
  auto it = collections.find(name);
  if (it == collections.end()) return Status::NotFound("no collection named '" + name + "'");
  return &it->second;
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() { (void)Close(); }

Result<std::unique_ptr<Database>> Database::Open(const std::string& dir, const DatabaseOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("database directory is empty");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  RELGEO_ASSIGN_OR_RETURN(impl->store,
                          store::Store::Open(dir, options.create_if_missing, options.sync_writes, options.read_only));
  RELGEO_RETURN_IF_ERROR(impl->LoadCollections());
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

const std::string& Database::path() const { return impl_->dir; }

Status Database::SaveIndexes() {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  if (impl_->options.read_only)
    return Status::FailedPrecondition("database '" + impl_->dir + "' is open read-only: indexes are not saved");
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
    if (!c.dirty || impl_->options.read_only) continue;  // read-only: rebuilt indexes stay in memory
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
  if (static_cast<int64_t>(sample_ids.size()) > kMaxAnchors)
    return Status::InvalidArgument("anchor set '" + name + "' has " + std::to_string(sample_ids.size()) +
                                   " sample ids; at most " + std::to_string(kMaxAnchors) + " anchors are supported");
  std::unordered_set<int64_t> seen(sample_ids.begin(), sample_ids.end());
  if (seen.size() != sample_ids.size()) return Status::InvalidArgument("anchor set '" + name + "' has duplicate sample ids");
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(auto v, impl_->store->Get(store::AnchorSetKey(name)));
  if (v) return Status::AlreadyExists("anchor set '" + name + "' already exists");
  store::WriteBatch b;
  b.Put(store::AnchorSetKey(name), records::EncodeAnchorSet(sample_ids));
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
  b.Delete(store::AnchorSetKey(name));
  std::vector<std::string> models;
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan(store::kAnchorLatentsPrefix, [&](const std::string& k, const std::string&) {
    auto z = k.find('\0');
    if (z != std::string::npos && k.substr(z + 1) == name) {
      b.Delete(k);
      models.push_back(k.substr(1, z - 1));
    }
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  ++impl_->anchors_generation;
  for (const auto& m : models) impl_->DropCaches(m);
  return Status::OK();
}

Result<std::vector<AnchorSetInfo>> Database::ListAnchorSets() const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  std::vector<AnchorSetInfo> out;
  Status inner;
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan(store::kAnchorSetPrefix, [&](const std::string& k, const std::string& v) {
    auto ids = records::DecodeAnchorSet(v);
    if (!ids.ok()) {
      inner = Status::Corruption("anchor set record '" + k.substr(1) + "' is damaged");
      return false;
    }
    AnchorSetInfo a;
    a.name = k.substr(1);
    a.sample_ids = std::move(*ids);
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
  RELGEO_ASSIGN_OR_RETURN(auto existing, impl_->store->Get(store::ModelKey(spec.name)));
  if (existing) return Status::AlreadyExists("model '" + spec.name + "' already exists");
  store::WriteBatch b;
  if (!spec.anchor_set.empty()) {
    RELGEO_ASSIGN_OR_RETURN(auto ids, impl_->GetAnchorSet(spec.anchor_set));
    MatrixView a = spec.anchor_latents;
    if (a.rows() != static_cast<int64_t>(ids.size()))
      return Status::InvalidArgument("anchor latents have " + std::to_string(a.rows()) + " rows, anchor set '" +
                                     spec.anchor_set + "' has " + std::to_string(ids.size()) + " anchors");
    RELGEO_RETURN_IF_ERROR(CheckLatents(a, m.latent_dim, "anchor latents").WithContext("model '" + spec.name + "'"));
    b.Put(store::AnchorLatentsKey(spec.name, spec.anchor_set), records::EncodeMatrix(a));
  } else if (!spec.anchor_latents.empty()) {
    return Status::InvalidArgument("anchor latents given without an anchor set");
  }
  b.Put(store::ModelKey(spec.name), records::EncodeModel(m));
  b.Put(store::MapBytesKey(spec.name), spec.map_bytes);
  if (m.has_encoder) b.Put(store::EncoderBytesKey(spec.name), spec.encoder_bytes);
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  ++impl_->anchors_generation;  // a model dropped and registered again under its name
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
  std::string bytes = records::EncodeMatrix(anchor_latents);
  RELGEO_ASSIGN_OR_RETURN(auto old, impl_->store->Get(store::AnchorLatentsKey(model, anchor_set)));
  if (old && *old == bytes) return Status::OK();  // the same latents: nothing changes
  if (old) {
    // Items encoded with the old latents would no longer be comparable with new ones
    // (one collection would mix two coordinate systems): refuse, never mix.
    RELGEO_ASSIGN_OR_RETURN(auto holders, impl_->CollectionsWithItemsOf(model, anchor_set));
    if (!holders.empty()) {
      std::string names;
      for (const auto& h : holders) names += (names.empty() ? "'" : ", '") + h + "'";
      return Status::FailedPrecondition("cannot replace the anchor latents of model '" + model + "' for anchor set '" +
                                        anchor_set + "': collection" + (holders.size() > 1 ? "s " : " ") + names +
                                        " hold" + (holders.size() > 1 ? "" : "s") +
                                        " items encoded with them (remove those items or drop the collection first)");
    }
  }
  store::WriteBatch b;
  b.Put(store::AnchorLatentsKey(model, anchor_set), bytes);
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  ++impl_->anchors_generation;
  impl_->DropCaches(model);
  return Status::OK();
}

Status Database::DropModel(const std::string& model) {
  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  store::WriteBatch b;
  b.Delete(store::ModelKey(model));
  b.Delete(store::MapBytesKey(model));
  b.Delete(store::EncoderBytesKey(model));
  const std::string prefix = store::AnchorLatentsPrefix(model);
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan(prefix, [&](const std::string& k, const std::string&) {
    b.Delete(k);
    return true;
  }));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  ++impl_->anchors_generation;
  impl_->DropCaches(m.name);
  return Status::OK();
}

Result<std::vector<ModelInfo>> Database::ListModels() const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  std::vector<ModelInfo> out;
  Status inner;
  RELGEO_RETURN_IF_ERROR(impl_->store->Scan(store::kModelPrefix, [&](const std::string&, const std::string& v) {
    auto m = records::DecodeModel(v);
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
    const std::string prefix = store::AnchorLatentsPrefix(i.name);
    RELGEO_RETURN_IF_ERROR(impl_->store->Scan(prefix, [&](const std::string& k, const std::string&) {
      i.anchor_sets.push_back(k.substr(prefix.size()));
      return true;
    }));
  }
  return out;
}

// ---------------------------------------------------------------- collections
Status Database::CreateCollection(const std::string& name, const CollectionOptions& options) {
  RELGEO_RETURN_IF_ERROR(CheckName(name, "collection"));
  if (options.steps < 1 || options.steps > kMaxSteps)
    return Status::InvalidArgument("steps must be in [1, " + std::to_string(kMaxSteps) + "], got " +
                                   std::to_string(options.steps));
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
  RELGEO_ASSIGN_OR_RETURN(auto next, impl_->store->Get(store::NextCollectionIdKey()));
  c.meta.cid = next && next->size() == 4 ? records::GetU32(*next, 0) : 1;
  std::string nv;
  records::PutU32(&nv, c.meta.cid + 1);
  store::WriteBatch b;
  b.Put(store::NextCollectionIdKey(), nv);
  b.Put(store::CollectionKey(name), records::EncodeCollection(c.meta));
  b.Put(store::StateKey(c.meta.cid), records::EncodeState(0, 0));
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
  b.Delete(store::CollectionKey(name));
  b.Delete(store::StateKey(cid));
  b.DeleteRange(store::ItemPrefix(cid), store::ItemPrefix(cid + 1));
  b.DeleteRange(store::IngestPrefix(cid), store::IngestPrefix(cid + 1));  // resumable BulkAdd records
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

}  // namespace relgeo
