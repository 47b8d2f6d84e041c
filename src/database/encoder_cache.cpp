// Metric maps, encoder modules and RelativeEncoders built from the stored bytes,
// cached per model (and per anchor set and encoder options) until the model changes.
#include "database/database_impl.h"

namespace relgeo {

// Every field of EncoderOptions that can change a representation's bits (precision,
// fast paths, and the chunking set by the budget and batch rows) is part of the key, so
// an Encode call with its own options never lends its encoder to Add or Search, which
// use the collection's stored options only. A new EncoderOptions field belongs here.
std::string Database::Impl::EncoderCacheKey(const std::string& model, const std::string& set, const EncoderOptions& eo) {
  std::string k = model;
  k += '\0';
  k += set;
  k += '\0';
  k += std::to_string(eo.steps) + ',' + std::to_string(static_cast<int>(eo.mode)) + ',' +
       std::to_string(eo.memory_budget_bytes) + ',' + std::to_string(eo.allow_affine_fast_path) + ',' +
       std::to_string(eo.allow_native_mlp) + ',' + std::to_string(eo.allow_relu_sign_split) + ',' +
       std::to_string(static_cast<int>(eo.precision)) + ',' + std::to_string(eo.rows_per_batch);
  return k;
}

void Database::Impl::DropCaches(const std::string& model) {
  std::lock_guard<std::mutex> l(cache_mu);
  maps.erase(model);
  const std::string enc_prefix = "\x01encoder:" + model + ":";
  for (auto it = maps.begin(); it != maps.end();)
    it = it->first.rfind(enc_prefix, 0) == 0 ? maps.erase(it) : std::next(it);
  for (auto it = encoders.begin(); it != encoders.end();)
    it = it->first.compare(0, model.size() + 1, model + '\0') == 0 ? encoders.erase(it) : std::next(it);
}

Result<std::shared_ptr<MetricMap>> Database::Impl::GetMap(const ModelMeta& m) const {
  {
    std::lock_guard<std::mutex> l(cache_mu);
    auto it = maps.find(m.name);
    if (it != maps.end()) return it->second;
  }
  RELGEO_ASSIGN_OR_RETURN(auto bytes, store->Get(store::MapBytesKey(m.name)));
  if (!bytes) return Status::Corruption("model '" + m.name + "' has no stored metric map");
  MetricMapOptions mo;
  mo.input_dim = m.latent_dim;
  mo.distance = m.distance;
  auto map = MetricMap::FromBytes(*bytes, mo);
  if (!map.ok()) return Status::Corruption("stored metric map of model '" + m.name + "' fails to load: " + map.status().message());
  std::lock_guard<std::mutex> l(cache_mu);
  return maps.emplace(m.name, *map).first->second;
}

Result<std::shared_ptr<RelativeEncoder>> Database::Impl::GetEncoder(const std::string& model, const std::string& set,
                                                    const EncoderOptions& eo) const {
  const std::string key = EncoderCacheKey(model, set, eo);
  {
    std::lock_guard<std::mutex> l(cache_mu);
    auto it = encoders.find(key);
    if (it != encoders.end()) return it->second;
  }
  RELGEO_ASSIGN_OR_RETURN(ModelMeta m, GetModel(model));
  RELGEO_ASSIGN_OR_RETURN(auto anchor_ids, GetAnchorSet(set));
  RELGEO_ASSIGN_OR_RETURN(auto lat, store->Get(store::AnchorLatentsKey(model, set)));
  if (!lat) return Status::NotFound("model '" + model + "' has no anchor latents for anchor set '" + set + "'");
  RELGEO_ASSIGN_OR_RETURN(Matrix anchors, records::DecodeMatrix(*lat));
  if (anchors.rows() != static_cast<int64_t>(anchor_ids.size()) || anchors.cols() != m.latent_dim)
    return Status::Corruption("stored anchor latents of '" + model + "' do not match its anchor set");
  RELGEO_ASSIGN_OR_RETURN(auto map, GetMap(m));
  RELGEO_ASSIGN_OR_RETURN(auto enc, RelativeEncoder::Create(map, anchors, eo));
  std::shared_ptr<RelativeEncoder> shared(std::move(enc));
  std::lock_guard<std::mutex> l(cache_mu);
  return encoders.emplace(key, shared).first->second;
}

// The model's encoder module (raw input -> latent), cached per input width.
Result<Matrix> Database::Impl::EncodeInputs(const std::string& model, MatrixView inputs) const {
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
    RELGEO_ASSIGN_OR_RETURN(auto bytes, store->Get(store::EncoderBytesKey(model)));
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
Result<Matrix> Database::Impl::EncodeFor(const CollectionState& c, const std::string& model, MatrixView latents) const {
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

}  // namespace relgeo
