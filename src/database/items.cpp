// Items: add (encode under the shared lock, commit under the exclusive lock), bulk
// add, remove, get; and the queries: search, encode.
#include <algorithm>
#include <unordered_set>

#include "database/database_impl.h"

namespace relgeo {

// Writes items (representations already computed) under the exclusive lock.
Status Database::Impl::CommitItems(CollectionState& c, const std::string& model, const int64_t* ids, MatrixView reps,
                   const std::vector<std::string>* payloads, double* store_s, double* index_s,
                   const ExtraPut* extra) {
  const int64_t n = reps.rows();
  auto t0 = Clock::now();
  std::vector<std::string> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = store::ItemKey(c.meta.cid, ids[i]);
  RELGEO_ASSIGN_OR_RETURN(auto existing, store->MultiGet(keys));
  std::vector<int64_t> replaced;
  store::WriteBatch batch;
  for (int64_t i = 0; i < n; ++i) {
    if (existing[i]) replaced.push_back(ids[i]);
    batch.Put(keys[i], records::EncodeItem(model, reps.row(i), reps.cols(), payloads && !payloads->empty() ? (*payloads)[i] : ""));
  }
  const int64_t new_count = c.count + n - static_cast<int64_t>(replaced.size());
  batch.Put(store::StateKey(c.meta.cid), records::EncodeState(c.version + 1, new_count));
  if (extra) batch.Put(extra->key, extra->value);
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
  // A periodic save only bounds rebuild work: the mutation is committed, so a save
  // that fails (disk full) is retried at the next threshold or on Close.
  if (options.index_save_every > 0 && c.unsaved >= options.index_save_every) (void)SaveIndex(c);
  return Status::OK();
}

Status Database::Impl::ValidateIds(const std::vector<int64_t>& ids, int64_t rows, const std::vector<std::string>& payloads) const {
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
Status Database::Impl::AddImpl(const std::string& collection, const std::string& model, const std::vector<int64_t>& ids,
               MatrixView latents, const std::vector<std::string>& payloads, bool latents_are_reps, BulkStats* stats,
               const ExtraPut* extra) {
  RELGEO_RETURN_IF_ERROR(ValidateIds(ids, latents.rows(), payloads));
  Matrix reps;
  uint32_t cid;
  uint64_t generation;
  auto t0 = Clock::now();
  {
    std::shared_lock<FairSharedMutex> l(mu);
    generation = anchors_generation;
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
  if (!latents_are_reps && generation != anchors_generation) {
    // Anchor latents (or a model) changed between encoding and now: encode again with
    // the current ones, under the exclusive lock so they cannot change once more.
    auto t2 = Clock::now();
    RELGEO_ASSIGN_OR_RETURN(reps, EncodeFor(it->second, model, latents));
    if (stats) stats->encode_seconds += Seconds(t2, Clock::now());
  }
  return CommitItems(it->second, model, ids.data(), reps, &payloads, stats ? &stats->store_seconds : nullptr,
                     stats ? &stats->index_seconds : nullptr, extra);
}

Result<std::vector<std::string>> Database::Impl::CollectionsWithItemsOf(const std::string& model,
                                                                     const std::string& set) const {
  std::vector<std::string> out;
  for (const auto& [name, c] : collections) {
    if (c.meta.options.anchor_set != set || c.count == 0) continue;
    bool found = false;
    Status inner;
    RELGEO_RETURN_IF_ERROR(store->Scan(store::ItemPrefix(c.meta.cid), [&](const std::string& k, const std::string& v) {
      std::string item_model, payload;
      const float* rep;
      int64_t K;
      inner = records::DecodeItem(v, &item_model, &rep, &K, &payload);
      if (!inner.ok()) {
        inner = inner.WithContext("item " + std::to_string(store::ItemIdFromKey(k)) + " of collection '" + name + "'");
        return false;
      }
      found = item_model == model;
      return !found;
    }));
    RELGEO_RETURN_IF_ERROR(inner);
    if (found) out.push_back(name);
  }
  return out;
}

namespace {
// k and the per-call parameters, checked before any query is encoded.
Status CheckSearch(const CollectionState& c, int64_t k, const SearchParams& p) {
  if (k <= 0) return Status::InvalidArgument("k must be positive, got " + std::to_string(k));
  if (k > kMaxSearchK)
    return Status::InvalidArgument("k is too large (at most " + std::to_string(kMaxSearchK) + "), got " + std::to_string(k));
  IndexSearchParams ip;
  ip.ef_search = p.ef_search;
  ip.nprobe = p.nprobe;
  return CheckSearchParams(c.spec, ip);
}
}  // namespace

Result<SearchResults> Database::Impl::SearchReps(const CollectionState& c, MatrixView reps, int64_t k, const SearchParams& p) const {
  RELGEO_RETURN_IF_ERROR(CheckSearch(c, k, p));
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
  if (options.batch_size <= 0 || options.batch_size > kMaxBulkBatch)
    return Status::InvalidArgument("batch_size must be in [1, " + std::to_string(kMaxBulkBatch) + "], got " +
                                   std::to_string(options.batch_size));
  if (options.resume_key.size() > kMaxResumeKeyBytes)
    return Status::InvalidArgument("resume_key has " + std::to_string(options.resume_key.size()) + " bytes, more than " +
                                   std::to_string(kMaxResumeKeyBytes));
  // A resumable call: the ingest record of (collection, resume_key), if an earlier
  // call was interrupted, says how many source rows are already committed.
  std::string ingest_key;
  uint64_t done_rows = 0, done_batches = 0;
  uint32_t cid = 0;
  {
    // Fail fast on unknown names before reading any data.
    std::shared_lock<FairSharedMutex> l(impl_->mu);
    RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
    RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
    RELGEO_ASSIGN_OR_RETURN(ModelMeta m, impl_->GetModel(model));
    (void)m;
    cid = c->meta.cid;
    if (!options.resume_key.empty()) {
      ingest_key = store::IngestKey(cid, options.resume_key);
      RELGEO_ASSIGN_OR_RETURN(auto rec, impl_->store->Get(ingest_key));
      if (rec) RELGEO_RETURN_IF_ERROR(records::DecodeIngest(*rec, &done_rows, &done_batches));
    }
  }
  BulkStats stats;
  auto start = Clock::now();
  std::vector<int64_t> ids;
  Matrix latents;
  static const std::vector<std::string> kNoPayloads;
  bool stopped = false;
  if (done_rows > 0) {
    if (options.skip_rows) {
      RELGEO_RETURN_IF_ERROR(options.skip_rows(static_cast<int64_t>(done_rows)).WithContext("resuming"));
    } else {
      for (uint64_t left = done_rows; left > 0;) {
        ids.clear();
        RELGEO_ASSIGN_OR_RETURN(int64_t n, source(std::min<int64_t>(options.batch_size, static_cast<int64_t>(left)), &ids, &latents));
        if (n <= 0) return Status::InvalidArgument("resuming: the source has fewer rows than the " + std::to_string(done_rows) +
                                                   " an earlier call committed under this resume_key");
        left -= static_cast<uint64_t>(std::min<int64_t>(n, static_cast<int64_t>(left)));
      }
    }
    stats.skipped_items = static_cast<int64_t>(done_rows);
    stats.skipped_batches = static_cast<int64_t>(done_batches);
  }
  while (true) {
    ids.clear();
    RELGEO_ASSIGN_OR_RETURN(int64_t n, source(options.batch_size, &ids, &latents));
    if (n <= 0) break;
    if (latents.rows() != n || static_cast<int64_t>(ids.size()) != n)
      return Status::InvalidArgument("batch source returned inconsistent row counts");
    // The progress record goes in the batch's own WriteBatch: it is exactly as durable as the items.
    Impl::ExtraPut progress;
    if (!ingest_key.empty())
      progress = {ingest_key, records::EncodeIngest(done_rows + static_cast<uint64_t>(stats.items + n),
                                                    done_batches + static_cast<uint64_t>(stats.batches + 1))};
    Status s = impl_->AddImpl(collection, model, ids, latents, kNoPayloads, false, &stats,
                              ingest_key.empty() ? nullptr : &progress);
    if (!s.ok()) return s.WithContext("batch " + std::to_string(stats.skipped_batches + stats.batches + 1) + " (items " +
                                      std::to_string(stats.skipped_items + stats.items) + "..)");
    stats.items += n;
    stats.batches += 1;
    if (options.progress) {
      BulkProgress p{stats.skipped_items + stats.items, options.total, stats.skipped_batches + stats.batches};
      if (!options.progress(p)) {
        stopped = true;  // committed batches stay, and so does the ingest record
        break;
      }
    }
  }
  {
    std::unique_lock<FairSharedMutex> l(impl_->mu);
    RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
    if (!ingest_key.empty() && !stopped) {
      // The source is exhausted: the next call with this key starts over (an upsert).
      store::WriteBatch b;
      b.Delete(ingest_key);
      RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
    }
    auto it = impl_->collections.find(collection);
    if (it != impl_->collections.end() && it->second.dirty) {
      auto t0 = Clock::now();
      // The batches are committed: an index that cannot be saved (disk full,
      // read-only directory) is reported, not an error; it is rebuilt on open.
      Status saved = impl_->SaveIndex(it->second);
      if (!saved.ok()) stats.index_not_saved = saved.message();
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
  b.Put(store::StateKey(c.meta.cid), records::EncodeState(c.version + 1, new_count));
  RELGEO_RETURN_IF_ERROR(impl_->store->Write(b));
  c.version += 1;
  c.count = new_count;
  c.dirty = true;
  c.unsaved += static_cast<int64_t>(gone.size());
  auto r = c.index->Remove(gone.data(), static_cast<int64_t>(gone.size()));
  if (!r.ok()) RELGEO_RETURN_IF_ERROR(impl_->RebuildIndex(c));
  if (impl_->options.index_save_every > 0 && c.unsaved >= impl_->options.index_save_every)
    (void)impl_->SaveIndex(c);  // committed; a failed periodic save is retried later (see CommitItems)
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
  RELGEO_RETURN_IF_ERROR(records::DecodeItem(*v, &item.model, &rep, &K, &item.payload));
  item.representation.assign(rep, rep + K);
  return item;
}

// ---------------------------------------------------------------- queries
Result<SearchResults> Database::Search(const std::string& collection, const std::string& model, MatrixView latents,
                                       int64_t k, const SearchParams& params) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_RETURN_IF_ERROR(CheckSearch(*c, k, params));
  RELGEO_ASSIGN_OR_RETURN(Matrix reps, impl_->EncodeFor(*c, model, latents));
  return impl_->SearchReps(*c, reps, k, params);
}

Result<SearchResults> Database::SearchRepresentations(const std::string& collection, MatrixView reps, int64_t k,
                                                      const SearchParams& params) const {
  std::shared_lock<FairSharedMutex> l(impl_->mu);
  RELGEO_RETURN_IF_ERROR(impl_->CheckOpen());
  RELGEO_ASSIGN_OR_RETURN(const CollectionState* c, impl_->GetCollection(collection));
  RELGEO_RETURN_IF_ERROR(CheckSearch(*c, k, params));
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
  RELGEO_RETURN_IF_ERROR(CheckSearch(*c, k, params));
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
