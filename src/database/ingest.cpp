// Distributed bulk indexing (docs/distributed.md): the ticket a driver hands to its
// workers, the item files they write without a database, and the driver's one
// atomic ingest of all of them with the collection's new state record.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "database/database_impl.h"
#include "store/sst_files.h"

namespace relgeo {
namespace {

constexpr char kTicketMagic[] = "RGT1";

// FNV-1a: a digest of the model's map and anchor latents, so that the driver notices
// when either was replaced between PrepareIngest and IngestItemFiles (even across
// driver processes: nothing in memory is involved).
uint64_t Fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct Ticket {
  uint32_t cid = 0;
  uint64_t K = 0, digest = 0;
  std::string model;
};

std::string EncodeTicket(const Ticket& t) {
  std::string s = kTicketMagic;
  records::PutU32(&s, t.cid);
  records::PutU64(&s, t.K);
  records::PutU64(&s, t.digest);
  s += t.model;
  return s;
}

Result<Ticket> DecodeTicket(const std::string& s) {
  const size_t head = sizeof(kTicketMagic) - 1 + 4 + 8 + 8;
  if (s.size() <= head || s.compare(0, sizeof(kTicketMagic) - 1, kTicketMagic) != 0)
    return Status::InvalidArgument("not an ingest ticket (" + std::to_string(s.size()) + " bytes)");
  Ticket t;
  t.cid = records::GetU32(s, 4);
  t.K = records::GetU64(s, 8);
  t.digest = records::GetU64(s, 16);
  t.model = s.substr(head);
  if (t.K == 0 || t.K > static_cast<uint64_t>(kMaxAnchors)) return Status::InvalidArgument("ingest ticket has a bad K");
  return t;
}

// The model's map and anchors as they are stored now, digested.
Result<uint64_t> Digest(const store::Store& st, const std::string& model, const std::string& set,
                        std::string* map_bytes = nullptr, std::string* latents = nullptr) {
  RELGEO_ASSIGN_OR_RETURN(auto map, st.Get(store::MapBytesKey(model)));
  if (!map) return Status::Corruption("model '" + model + "' has no stored metric map");
  RELGEO_ASSIGN_OR_RETURN(auto lat, st.Get(store::AnchorLatentsKey(model, set)));
  if (!lat) return Status::NotFound("model '" + model + "' has no anchor latents for anchor set '" + set + "'");
  const uint64_t h = Fnv1a(*lat, Fnv1a(*map));
  if (map_bytes) *map_bytes = std::move(*map);
  if (latents) *latents = std::move(*lat);
  return h;
}

}  // namespace

Status WriteItemFile(const std::string& ticket, const std::string& path, const std::vector<int64_t>& ids,
                     MatrixView reps) {
  RELGEO_ASSIGN_OR_RETURN(Ticket t, DecodeTicket(ticket));
  const int64_t n = reps.rows();
  if (static_cast<int64_t>(ids.size()) != n)
    return Status::InvalidArgument("got " + std::to_string(ids.size()) + " ids for " + std::to_string(n) + " rows");
  if (n == 0) return Status::InvalidArgument("an item file needs at least one item");
  RELGEO_RETURN_IF_ERROR(CheckLatents(reps, static_cast<int64_t>(t.K), "representations"));
  // Keys are sorted by id (keys.h): write the rows in id order.
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[a] < ids[b]; });
  for (int64_t i = 0; i < n; ++i) {
    if (ids[order[i]] == -1) return Status::InvalidArgument("id -1 is reserved (it marks missing results)");
    if (i > 0 && ids[order[i]] == ids[order[i - 1]])
      return Status::InvalidArgument("duplicate id " + std::to_string(ids[order[i]]) + " in one file");
  }
  return store::WriteSstFile(path, n, [&](int64_t i, std::string* key, std::string* value) {
    *key = store::ItemKey(t.cid, ids[order[i]]);
    *value = records::EncodeItem(t.model, reps.row(order[i]), reps.cols(), "");
  });
}

Result<IngestTicket> Database::PrepareIngest(const std::string& collection, const std::string& model) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  IngestTicket out;
  std::string latents;
  Ticket t;
  t.cid = c->meta.cid;
  t.K = static_cast<uint64_t>(c->meta.K);
  t.model = model;
  RELGEO_ASSIGN_OR_RETURN(t.digest, Digest(*impl_->store, model, c->meta.options.anchor_set, &out.map_bytes, &latents));
  RELGEO_ASSIGN_OR_RETURN(out.anchor_latents, records::DecodeMatrix(latents));
  if (out.anchor_latents.rows() != c->meta.K)
    return Status::Corruption("stored anchor latents of '" + model + "' do not match its anchor set");
  out.ticket = EncodeTicket(t);
  out.distance = m.distance;
  out.steps = c->meta.options.steps;
  out.mode = c->meta.options.mode;
  return out;
}

Result<IngestStats> Database::IngestItemFiles(const std::string& collection, const std::string& model,
                                              const std::string& ticket, const std::vector<std::string>& paths) {
  RELGEO_ASSIGN_OR_RETURN(Ticket t, DecodeTicket(ticket));
  if (t.model != model)
    return Status::InvalidArgument("the ingest ticket is for model '" + t.model + "', not '" + model + "'");
  if (paths.empty()) return Status::InvalidArgument("no item files to ingest");
  IngestStats stats;
  stats.files = static_cast<int64_t>(paths.size());
  // Read and check every file before taking the lock: only whole, well-formed files
  // of this collection and model go further. Their ids and vectors feed the index.
  auto t0 = Clock::now();
  const std::string prefix = store::ItemPrefix(t.cid);
  std::vector<int64_t> ids;
  std::vector<float> flat;
  std::unordered_set<int64_t> seen;
  for (const std::string& path : paths) {
    RELGEO_RETURN_IF_ERROR(store::ReadSstFile(path, [&](const std::string& k, const std::string& v) -> Status {
      if (k.size() != prefix.size() + 8 || k.compare(0, prefix.size(), prefix) != 0)
        return Status::InvalidArgument("item file '" + path + "' holds a record that is not an item of this collection");
      const int64_t id = store::ItemIdFromKey(k);
      std::string item_model;
      const float* rep;
      int64_t K;
      RELGEO_RETURN_IF_ERROR(records::DecodeItem(v, &item_model, &rep, &K, nullptr).WithContext("item file '" + path + "'"));
      if (item_model != model || K != static_cast<int64_t>(t.K))
        return Status::InvalidArgument("item file '" + path + "' holds item " + std::to_string(id) + " of model '" +
                                       item_model + "' with K=" + std::to_string(K) + ", not of the ticket's");
      if (!seen.insert(id).second)
        return Status::InvalidArgument("id " + std::to_string(id) + " is in more than one item file (second: '" + path + "')");
      ids.push_back(id);
      const size_t at = flat.size();
      flat.resize(at + static_cast<size_t>(K));
      std::memcpy(flat.data() + at, rep, static_cast<size_t>(K) * sizeof(float));  // rep is unaligned
      return Status::OK();
    }));
  }
  Matrix reps(static_cast<int64_t>(ids.size()), static_cast<int64_t>(t.K), std::move(flat));
  RELGEO_RETURN_IF_ERROR(CheckLatents(reps, static_cast<int64_t>(t.K), "ingested representations"));
  stats.items = reps.rows();
  auto t1 = Clock::now();
  stats.read_seconds = Seconds(t0, t1);

  std::unique_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  if (impl_->store->read_only())
    return Status::FailedPrecondition("database '" + impl_->dir + "' is open read-only: writes are refused");
  RELGEO_RETURN_IF_ERROR(CheckName(collection, "collection"));
  auto it = impl_->collections.find(collection);
  if (it == impl_->collections.end() || it->second.meta.cid != t.cid)
    return Status::FailedPrecondition("stale ingest ticket: collection '" + collection + "' was dropped or recreated");
  CollectionState& c = it->second;
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
  (void)m;
  RELGEO_ASSIGN_OR_RETURN(uint64_t digest, Digest(*impl_->store, model, c.meta.options.anchor_set));
  if (digest != t.digest)
    return Status::FailedPrecondition("stale ingest ticket: model '" + model +
                                      "' has another map or other anchor latents than when the ticket was made");
  std::vector<std::string> keys(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) keys[i] = store::ItemKey(t.cid, ids[i]);
  RELGEO_ASSIGN_OR_RETURN(auto existing, impl_->store->MultiGet(keys));
  std::vector<int64_t> replaced;
  for (size_t i = 0; i < ids.size(); ++i)
    if (existing[i]) replaced.push_back(ids[i]);
  stats.replaced = static_cast<int64_t>(replaced.size());
  const int64_t new_count = c.count + stats.items - stats.replaced;
  // The state record rides in its own one-entry file, so that ONE ingest carries the
  // items and the count/version that describe them.
  namespace fs = std::filesystem;
  const std::string state_path = (fs::path(paths[0]).parent_path() /
                                  ("state-" + std::to_string(t.cid) + "-" + std::to_string(c.version + 1) + ".sst")).string();
  RELGEO_RETURN_IF_ERROR(store::WriteSstFile(state_path, 1, [&](int64_t, std::string* k, std::string* v) {
    *k = store::StateKey(t.cid);
    *v = records::EncodeState(c.version + 1, static_cast<uint64_t>(new_count));
  }));
  std::vector<std::string> all = paths;
  all.push_back(state_path);
  Status ingested = impl_->store->IngestFiles(all);
  std::error_code ec;
  fs::remove(state_path, ec);
  RELGEO_RETURN_IF_ERROR(ingested);
  c.version += 1;
  c.count = new_count;
  auto t2 = Clock::now();
  stats.ingest_seconds = Seconds(t1, t2);
  // The index follows RocksDB as CommitItems does: replaced ids out, every id in.
  Status s = Status::OK();
  if (!replaced.empty()) {
    auto r = c.index->Remove(replaced.data(), static_cast<int64_t>(replaced.size()));
    if (!r.ok()) s = r.status();
  }
  if (s.ok()) s = c.index->Add(ids.data(), reps);
  c.dirty = true;
  c.unsaved += stats.items;
  if (!s.ok()) {
    Status rb = impl_->RebuildIndex(c);
    if (!rb.ok()) return rb.WithContext("index update failed (" + s.message() + ") and rebuild failed");
  }
  // The items are committed: an index that cannot be saved is reported, not an error.
  Status saved = impl_->SaveIndex(c);
  if (!saved.ok()) stats.index_not_saved = saved.message();
  stats.index_seconds = Seconds(t2, Clock::now());
  return stats;
}

}  // namespace relgeo
