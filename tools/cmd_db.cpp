// The database commands: anchors, model, collection, index, search, remove, info.
// Every command takes --db DIR (an embedded RocksDB directory; see docs/database.md).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <limits>

#include <unistd.h>

#include "cli_common.h"
#include "db_common.h"
#include "json_text.h"
#include "npy_input.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"

namespace relgeo::cli {
namespace {

using json = nlohmann::json;

// ------------------------------------------------------------------ anchors
struct AnchorsArgs {
  std::string db, name, ids;
  int64_t count = 0;
  bool json = false, read_only = false;
};

void RegisterAnchors(CLI::App& app) {
  CLI::App* g = app.add_subcommand("anchors", "Create, list and drop anchor sets (K sample ids, in order)");
  g->require_subcommand(1);
  auto a = std::make_shared<AnchorsArgs>();
  CLI::App* create = g->add_subcommand("create", "Create an anchor set");
  create->footer("Examples:\n  relgeo anchors create --db db --name S --count 256        # sample ids 0..255\n"
                 "  relgeo anchors create --db db --name S --ids anchor_ids.npy");
  create->add_option("--db", a->db, "Database directory (created if missing)")->required();
  create->add_option("--name", a->name, "Anchor set name")->required();
  auto* count = create->add_option("--count", a->count, "K: use sample ids 0..K-1 (1-" + std::to_string(kMaxAnchors) + ")");
  auto* ids = create->add_option("--ids", a->ids, "1-D int .npy of K sample ids")->check(CLI::ExistingFile);
  count->excludes(ids);
  create->callback([a, count] {
    std::vector<int64_t> v;
    if (!a->ids.empty()) {
      v = OrDie(ReadNpyInt64(a->ids), "--ids");
    } else if (count->count() > 0) {
      CheckFlag<int64_t>("--count", a->count, 1, kMaxAnchors, "anchors");  // before the ids are allocated
      v.resize(static_cast<size_t>(a->count));
      for (int64_t i = 0; i < a->count; ++i) v[static_cast<size_t>(i)] = i;
    } else {
      throw CommandError{Status::InvalidArgument("give --count K (K > 0) or --ids IDS.npy")};
    }
    auto db = OpenDb(a->db, true);
    OrDie(db->CreateAnchorSet(a->name, v));
    Close(db);
    Say("created anchor set '" + a->name + "' with " + std::to_string(v.size()) + " anchors");
  });
  auto l = std::make_shared<AnchorsArgs>();
  CLI::App* list = g->add_subcommand("list", "List anchor sets");
  list->footer("Example:\n  relgeo anchors list --db db --json");
  list->add_option("--db", l->db, "Database directory")->required();
  list->add_flag("--json", l->json, "Print JSON");
  AddReadOnlyFlag(list, &l->read_only);
  list->callback([l] {
    auto db = OpenDbToRead(l->db, l->read_only);
    auto sets = OrDie(db->ListAnchorSets());
    if (l->json) {
      json j = json::array();
      for (auto& s : sets) j.push_back({{"name", s.name}, {"count", s.sample_ids.size()}, {"sample_ids", s.sample_ids}});
      std::cout << Dump(j) << "\n";
    } else {
      for (auto& s : sets) std::cout << Txt(s.name) << "\tK=" << s.sample_ids.size() << "\n";
    }
  });
  auto d = std::make_shared<AnchorsArgs>();
  CLI::App* drop = g->add_subcommand("drop", "Drop an anchor set (refused while a collection uses it)");
  drop->add_option("--db", d->db, "Database directory")->required();
  drop->add_option("--name", d->name, "Anchor set name")->required();
  drop->callback([d] {
    auto db = OpenDb(d->db, false);
    OrDie(db->DropAnchorSet(d->name));
    Close(db);
    Say("dropped anchor set '" + d->name + "'");
  });
}

// ------------------------------------------------------------------ model
struct ModelArgs {
  std::string db, name, map, distance = "euclidean", encoder, anchors, anchor_latents;
  int64_t latent_dim = 0;
  bool json = false, read_only = false;
};

void RegisterModel(CLI::App& app) {
  CLI::App* g = app.add_subcommand("model", "Register, attach, list and drop models (metric map + anchor latents)");
  g->require_subcommand(1);
  auto a = std::make_shared<ModelArgs>();
  CLI::App* reg = g->add_subcommand("register", "Register a model: its metric map (TorchScript or .pt2) is stored in the database");
  reg->footer("Example:\n  relgeo model register --db db --name A --map decoder_a.pt --distance euclidean \\\n"
              "      --anchor-set S --anchor-latents anchors_a.npy");
  reg->add_option("--db", a->db, "Database directory (created if missing)")->required();
  reg->add_option("--name", a->name, "Model name")->required();
  reg->add_option("--map", a->map, "Metric map f: (n x d) -> (n x ...): TorchScript (.pt) or torch.export/AOTInductor package (.pt2)")->required()->check(CLI::ExistingFile);
  reg->add_option("--distance", a->distance, "Output distance: euclidean | sphere | fisher")->capture_default_str();
  reg->add_option("--encoder", a->encoder, "Optional TorchScript encoder (raw input -> latent), stored too")
      ->check(CLI::ExistingFile);
  auto* latent_dim = reg->add_option("--latent-dim", a->latent_dim,
                                     "Latent dimension d if the map does not tell (1-" + std::to_string(kMaxLatentDim) + ")");
  reg->add_option("--anchor-set,--anchors", a->anchors, "Anchor set to attach to (--anchors: the older spelling, still accepted)");
  reg->add_option("--anchor-latents", a->anchor_latents, "K x d .npy: this model's latents of the anchor samples, in order")
      ->check(CLI::ExistingFile);
  reg->callback([a, latent_dim] {
    if (latent_dim->count() > 0) CheckFlag<int64_t>("--latent-dim", a->latent_dim, 1, kMaxLatentDim, "latent dimension");
    if (a->anchors.empty() != a->anchor_latents.empty())
      throw CommandError{Status::InvalidArgument("--anchor-set and --anchor-latents go together")};
    ModelSpec spec;
    spec.name = a->name;
    spec.map_bytes = ReadFileOrDie(a->map, "--map");
    spec.distance = OrDie(ParseOutputDistance(a->distance), "--distance");
    spec.latent_dim = a->latent_dim;
    if (!a->encoder.empty()) spec.encoder_bytes = ReadFileOrDie(a->encoder, "--encoder");
    spec.anchor_set = a->anchors;
    if (!a->anchor_latents.empty()) spec.anchor_latents = OrDie(ReadNpyMatrix(a->anchor_latents), "--anchor-latents");
    auto db = OpenDb(a->db, true);
    OrDie(db->RegisterModel(spec));
    Close(db);
    Say("registered model '" + a->name + "'" + (a->anchors.empty() ? "" : " on anchor set '" + a->anchors + "'"));
  });
  auto t = std::make_shared<ModelArgs>();
  CLI::App* attach = g->add_subcommand("attach", "Attach (or replace) a model's anchor latents for an anchor set");
  attach->footer("Example:\n  relgeo model attach --db db --name A --anchor-set S2 --anchor-latents anchors2_a.npy");
  attach->add_option("--db", t->db, "Database directory")->required();
  attach->add_option("--name", t->name, "Model name")->required();
  attach->add_option("--anchor-set,--anchors", t->anchors, "Anchor set (--anchors: the older spelling, still accepted)")->required();
  attach->add_option("--anchor-latents", t->anchor_latents, "K x d .npy")->required()->check(CLI::ExistingFile);
  attach->callback([t] {
    Matrix lat = OrDie(ReadNpyMatrix(t->anchor_latents), "--anchor-latents");
    auto db = OpenDb(t->db, false);
    OrDie(db->AttachAnchors(t->name, t->anchors, lat));
    Close(db);
    Say("attached model '" + t->name + "' to anchor set '" + t->anchors + "'");
  });
  auto l = std::make_shared<ModelArgs>();
  CLI::App* list = g->add_subcommand("list", "List models");
  list->add_option("--db", l->db, "Database directory")->required();
  list->add_flag("--json", l->json, "Print JSON");
  AddReadOnlyFlag(list, &l->read_only);
  list->callback([l] {
    auto db = OpenDbToRead(l->db, l->read_only);
    auto models = OrDie(db->ListModels());
    json j = json::array();
    for (auto& m : models) {
      if (l->json) {
        j.push_back({{"name", m.name}, {"latent_dim", m.latent_dim}, {"output_dim", m.output_dim},
                     {"distance", OutputDistanceName(m.distance)}, {"map_bytes", m.map_bytes},
                     {"has_encoder", m.has_encoder}, {"anchor_sets", m.anchor_sets}});
      } else {
        std::cout << Txt(m.name) << "\td=" << m.latent_dim << "\tm=" << m.output_dim << "\t" << OutputDistanceName(m.distance)
                  << "\tanchors:";
        for (auto& s : m.anchor_sets) std::cout << " " << Txt(s);
        std::cout << (m.has_encoder ? "\t(encoder)" : "") << "\n";
      }
    }
    if (l->json) std::cout << Dump(j) << "\n";
  });
  auto d = std::make_shared<ModelArgs>();
  CLI::App* drop = g->add_subcommand("drop", "Drop a model (items it indexed stay searchable)");
  drop->add_option("--db", d->db, "Database directory")->required();
  drop->add_option("--name", d->name, "Model name")->required();
  drop->callback([d] {
    auto db = OpenDb(d->db, false);
    OrDie(db->DropModel(d->name));
    Close(db);
    Say("dropped model '" + d->name + "'");
  });
}

// ------------------------------------------------------------------ collection
struct CollArgs {
  std::string db, name, anchors, index = "Flat", mode = "length";
  int steps = 8;
  bool json = false, read_only = false;
};

json CollectionJson(const CollectionInfo& c) {
  return {{"name", c.name},       {"anchor_set", c.options.anchor_set}, {"index", c.options.index},
          {"steps", c.options.steps}, {"mode", PathModeName(c.options.mode)}, {"items", c.items},
          {"indexed", c.indexed}, {"index_trained", c.index_trained}, {"version", c.version},
          {"index_state", c.index_state}};
}

void RegisterCollection(CLI::App& app) {
  CLI::App* g = app.add_subcommand("collection", "Create, list and drop collections");
  g->require_subcommand(1);
  auto a = std::make_shared<CollArgs>();
  CLI::App* create = g->add_subcommand("create", "Create a collection over an anchor set");
  create->footer("Examples:\n  relgeo collection create --db db --name C --anchor-set S\n"
                 "  relgeo collection create --db db --name C --anchor-set S --index HNSW32 --steps 8 --mode length\n"
                 "  relgeo collection create --db db --name C --anchor-set S --index IVF256,Flat");
  create->add_option("--db", a->db, "Database directory (created if missing)")->required();
  create->add_option("--name", a->name, "Collection name")->required();
  create->add_option("--anchor-set,--anchors", a->anchors, "Anchor set (--anchors: the older spelling, still accepted)")->required();
  create->add_option("--index", a->index, "Flat[,fp16|SQ8] | HNSW<M> | IVF<nlist>[,Flat|SQ8|PQ<m>]")->capture_default_str();
  create->add_option("--steps", a->steps, "Straight-line steps N, 1-" + std::to_string(kMaxSteps))->capture_default_str();
  create->add_option("--mode", a->mode, "length | energy")->capture_default_str();
  create->callback([a] {
    CheckFlag("--steps", a->steps, 1, kMaxSteps, "straight-line steps");
    CollectionOptions o;
    o.anchor_set = a->anchors;
    o.index = a->index;
    o.steps = a->steps;
    o.mode = OrDie(ParsePathMode(a->mode), "--mode");
    auto db = OpenDb(a->db, true);
    OrDie(db->CreateCollection(a->name, o));
    const std::string spec = OrDie(db->GetCollectionInfo(a->name)).options.index;  // as stored: canonical
    Close(db);
    Say("created collection '" + a->name + "' (" + spec + ")");
  });
  auto l = std::make_shared<CollArgs>();
  CLI::App* list = g->add_subcommand("list", "List collections");
  list->add_option("--db", l->db, "Database directory")->required();
  list->add_flag("--json", l->json, "Print JSON");
  AddReadOnlyFlag(list, &l->read_only);
  list->callback([l] {
    auto db = OpenDbToRead(l->db, l->read_only);
    auto cs = OrDie(db->ListCollections());
    json j = json::array();
    for (auto& c : cs) {
      if (l->json)
        j.push_back(CollectionJson(c));
      else
        std::cout << Txt(c.name) << "\t" << Txt(c.options.index) << "\tanchors=" << Txt(c.options.anchor_set) << "\titems=" << c.items
                  << "\tsteps=" << c.options.steps << "\t" << PathModeName(c.options.mode) << "\n";
    }
    if (l->json) std::cout << Dump(j) << "\n";
    CloseOrWarn(db);
  });
  auto d = std::make_shared<CollArgs>();
  CLI::App* drop = g->add_subcommand("drop", "Drop a collection and all its items");
  drop->add_option("--db", d->db, "Database directory")->required();
  drop->add_option("--name", d->name, "Collection name")->required();
  drop->callback([d] {
    auto db = OpenDb(d->db, false);
    OrDie(db->DropCollection(d->name));
    Close(db);
    Say("dropped collection '" + d->name + "'");
  });
}

// ------------------------------------------------------------------ index / search / remove / info
struct IndexArgs {
  std::string db, collection, model, latents, inputs, ids;
  int64_t batch = 4096;
  bool no_resume = false;
};

// relgeo index streams its input (docs/cli.md "Memory"): row blocks of the latents
// (or inputs) and ids files are read as BulkAdd asks for them, so memory is bounded
// by --batch whatever the file's size. Unless --no-resume, the run is resumable:
// the input's identity is the BulkAdd resume key (docs/database.md "Resumable bulk
// index"), and batches an interrupted run committed are skipped.
void RunIndex(const IndexArgs& a) {
  if (a.latents.empty() == a.inputs.empty()) throw CommandError{Status::InvalidArgument("give --latents or --inputs")};
  CheckFlag<int64_t>("--batch", a.batch, 1, kMaxBulkBatch, "items per atomic batch");
  const bool raw = !a.inputs.empty();
  const std::string data_flag = raw ? "--inputs" : "--latents";
  auto data = OpenNpyOrDie(raw ? a.inputs : a.latents, data_flag);
  std::unique_ptr<NpyReader> ids;
  if (!a.ids.empty()) {
    ids = OpenNpyOrDie(a.ids, "--ids", NpyReader::Kind::kIds);
    if (ids->rows() != data->rows())
      throw CommandError{Status::InvalidArgument("--ids has " + std::to_string(ids->rows()) + " ids for " +
                                                 std::to_string(data->rows()) + " rows of " + data_flag)};
  }
  auto db = OpenDb(a.db, false);
  const int64_t n = data->rows();
  Progress bar("index", n, "items");
  BulkOptions o;
  o.batch_size = a.batch;
  o.total = n;
  o.progress = [&bar, n](const BulkProgress& p) {
    if (p.done < n) bar.Update(p.done);  // Finish() draws the last state
    return true;
  };
  if (!a.no_resume) {
    o.resume_key = std::string(raw ? "inputs " : "latents ") + FileIdentity(raw ? a.inputs : a.latents, data_flag) +
                   (ids ? " ids " + FileIdentity(a.ids, "--ids") : "") + " model " + a.model;
    o.skip_rows = [&](int64_t rows) {
      RELGEO_RETURN_IF_ERROR(data->Seek(rows));
      return ids ? ids->Seek(rows) : Status::OK();
    };
  }
  Matrix block;
  BatchSource source = [&](int64_t max_rows, std::vector<int64_t>* out_ids, Matrix* out) -> Result<int64_t> {
    const int64_t first = data->position();
    RELGEO_ASSIGN_OR_RETURN(const int64_t got, data->ReadRows(max_rows, raw ? &block : out));
    if (got == 0) return got;
    if (raw) {
      RELGEO_ASSIGN_OR_RETURN(*out, db->EncodeInputs(a.model, block));
    }
    if (ids) {
      RELGEO_ASSIGN_OR_RETURN(const int64_t got_ids, ids->ReadIds(got, out_ids));
      if (got_ids != got) return Status::Internal("--ids and " + data_flag + " went out of step");
    } else {
      out_ids->resize(static_cast<size_t>(got));
      for (int64_t i = 0; i < got; ++i) (*out_ids)[static_cast<size_t>(i)] = first + i;
    }
    return got;
  };
  BulkStats st = OrDie(db->BulkAdd(a.collection, a.model, source, o), data_flag);
  bar.Finish();
  if (st.index_not_saved.empty()) {
    Close(db);
  } else {
    // The items are committed; only the derived index is behind (rebuilt on the
    // next open): a warning and exit 0, not a failure.
    Warn("the index was not saved (" + st.index_not_saved + "); it is rebuilt from the database on the next open");
    CloseOrWarn(db);
  }
  char line[320];
  std::snprintf(line, sizeof line, "indexed %lld items in %.2fs (encode %.2fs, RocksDB %.2fs, FAISS %.2fs)",
                static_cast<long long>(st.items), st.total_seconds, st.encode_seconds, st.store_seconds,
                st.index_seconds);
  Say(line);
  if (st.skipped_batches > 0 || st.skipped_items > 0) {
    std::snprintf(line, sizeof line, "resumed: skipped %lld batches (%lld items) an interrupted run had committed",
                  static_cast<long long>(st.skipped_batches), static_cast<long long>(st.skipped_items));
    Say(line);
  }
}

void RegisterIndex(CLI::App& app) {
  auto a = std::make_shared<IndexArgs>();
  CLI::App* c = app.add_subcommand("index", "Encode latents with a model and add them to a collection (upsert)");
  c->footer("Examples:\n  relgeo index --db db --collection C --model A --latents z_a.npy [--ids ids.npy]\n"
            "  relgeo index --db db --collection C --model A --inputs images.npy   # model registered with --encoder\n"
            "Ids default to row numbers. Each batch is one atomic write; the index is saved at the end.\n"
            "The input is read a batch at a time. Re-running an interrupted index with the same files\n"
            "skips the batches it committed (--no-resume: index everything again).");
  c->add_option("--db", a->db, "Database directory")->required();
  c->add_option("--collection", a->collection, "Collection")->required();
  c->add_option("--model", a->model, "Model that produced the latents")->required();
  auto* lat = c->add_option("--latents", a->latents, "n x d .npy latents")->check(CLI::ExistingFile);
  auto* inp = c->add_option("--inputs", a->inputs, "n x D .npy raw inputs, run through the model's stored encoder")
                  ->check(CLI::ExistingFile);
  lat->excludes(inp);
  c->add_option("--ids", a->ids, "1-D int .npy of n item ids (default 0..n-1)")->check(CLI::ExistingFile);
  c->add_option("--batch", a->batch, "Items per atomic batch, 1-" + std::to_string(kMaxBulkBatch))->capture_default_str();
  c->add_flag("--no-resume", a->no_resume, "Index every row even if an interrupted run committed some");
  c->callback([a] { RunIndex(*a); });
}

struct SearchArgs {
  std::string db, collection, model, latents, inputs, out_ids, out_scores;
  int64_t k = 10;
  int ef = 0, nprobe = 0;
  bool json = false, read_only = false;
};

void RegisterSearch(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  CLI::App* c = app.add_subcommand("search", "Search a collection with queries from any registered model");
  c->footer("Examples:\n  relgeo search --db db --collection C --model B --latents q_b.npy --k 10 --json\n"
            "  relgeo search --db db --collection C --model B --latents q_b.npy --ef 128 --out-ids top.npy\n"
            "--json prints {\"results\": [{\"ids\": [...], \"scores\": [...]}, ...]}, one entry per query row, best first;\n"
            "scores are cosine similarities; rows have fewer than k entries when the collection is smaller.");
  c->add_option("--db", a->db, "Database directory")->required();
  c->add_option("--collection", a->collection, "Collection")->required();
  c->add_option("--model", a->model, "Model that produced the query latents")->required();
  auto* lat = c->add_option("--latents", a->latents, "q x d .npy query latents")->check(CLI::ExistingFile);
  auto* inp = c->add_option("--inputs", a->inputs, "q x D .npy raw query inputs (the model's stored encoder)")
                  ->check(CLI::ExistingFile);
  lat->excludes(inp);
  c->add_option("--k", a->k, "Results per query, 1-" + std::to_string(kMaxSearchK))->capture_default_str();
  auto* ef = c->add_option("--ef", a->ef, "HNSW efSearch, 1-" + std::to_string(kMaxEfSearch) + " (default 64)");
  auto* nprobe = c->add_option("--nprobe", a->nprobe, "IVF lists to visit, 1-nlist (default 16, or nlist when smaller)");
  c->add_flag("--json", a->json, "Print one JSON document");
  AddReadOnlyFlag(c, &a->read_only);
  c->add_option("--out-ids", a->out_ids, "Also write the q x k ids as int64 .npy (-1 = none)");
  c->callback([a, ef, nprobe] {
    if (a->latents.empty() == a->inputs.empty()) throw CommandError{Status::InvalidArgument("give --latents or --inputs")};
    // Not given: 0, the index's default. Given: a real value (nprobe is also checked
    // against the collection's nlist by the library).
    CheckFlag<int64_t>("--k", a->k, 1, kMaxSearchK, "results per query");
    if (ef->count() > 0) CheckFlag("--ef", a->ef, 1, kMaxEfSearch, "HNSW efSearch; default 64");
    if (nprobe->count() > 0) CheckFlag("--nprobe", a->nprobe, 1, kMaxNlist, "IVF lists to visit, at most the collection's nlist; default 16");
    Matrix q = OrDie(ReadNpyMatrix(a->inputs.empty() ? a->latents : a->inputs), a->inputs.empty() ? "--latents" : "--inputs");
    auto db = OpenDbToRead(a->db, a->read_only);
    SearchParams p;
    p.ef_search = a->ef;
    p.nprobe = a->nprobe;
    auto found = a->inputs.empty() ? db->Search(a->collection, a->model, q, a->k, p)
                                   : db->SearchInputs(a->collection, a->model, q, a->k, p);
    if (!found.ok() && found.status().message().rfind("nprobe ", 0) == 0)  // more than the collection's nlist
      throw CommandError{Status(found.status().code(), "--" + found.status().message())};
    SearchResults r = OrDie(std::move(found));
    CloseOrWarn(db);
    if (!a->out_ids.empty()) OrDie(WriteNpyInt64(a->out_ids, r.ids), "--out-ids");
    if (a->json) {
      json results = json::array();
      for (int64_t i = 0; i < r.queries; ++i) {
        json ids = json::array(), scores = json::array();
        for (int64_t j = 0; j < r.k; ++j) {
          if (r.row_ids(i)[j] == -1) break;
          ids.push_back(r.row_ids(i)[j]);
          scores.push_back(r.row_scores(i)[j]);
        }
        results.push_back({{"ids", ids}, {"scores", scores}});
      }
      std::cout << Dump(json{{"results", results}}) << "\n";
    } else {
      for (int64_t i = 0; i < r.queries; ++i) {
        std::cout << i << ":";
        for (int64_t j = 0; j < r.k && r.row_ids(i)[j] != -1; ++j) {
          char buf[64];
          std::snprintf(buf, sizeof buf, " %lld(%.4f)", static_cast<long long>(r.row_ids(i)[j]), r.row_scores(i)[j]);
          std::cout << buf;
        }
        std::cout << "\n";
      }
    }
  });
}

struct RemoveArgs {
  std::string db, collection, ids;
};

void RegisterRemove(CLI::App& app) {
  auto a = std::make_shared<RemoveArgs>();
  CLI::App* c = app.add_subcommand("remove", "Remove items from a collection");
  c->footer("Example:\n  relgeo remove --db db --collection C --ids gone.npy");
  c->add_option("--db", a->db, "Database directory")->required();
  c->add_option("--collection", a->collection, "Collection")->required();
  c->add_option("--ids", a->ids, "1-D int .npy of ids")->required()->check(CLI::ExistingFile);
  c->callback([a] {
    std::vector<int64_t> ids = OrDie(ReadNpyInt64(a->ids), "--ids");
    auto db = OpenDb(a->db, false);
    int64_t n = OrDie(db->Remove(a->collection, ids));
    Close(db);
    Say("removed " + std::to_string(n) + " of " + std::to_string(ids.size()) + " ids");
  });
}

struct InfoArgs {
  std::string db;
  bool json = false, read_only = false;
};

void RegisterInfo(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  CLI::App* c = app.add_subcommand("info", "Summarise a database: anchor sets, models, collections");
  c->footer("Example:\n  relgeo info --db db --json");
  c->add_option("--db", a->db, "Database directory")->required();
  c->add_flag("--json", a->json, "Print JSON");
  AddReadOnlyFlag(c, &a->read_only);
  c->callback([a] {
    auto db = OpenDbToRead(a->db, a->read_only);
    auto sets = OrDie(db->ListAnchorSets());
    auto models = OrDie(db->ListModels());
    auto colls = OrDie(db->ListCollections());
    CloseOrWarn(db);
    if (a->json) {
      json j;
      j["path"] = a->db;
      j["anchor_sets"] = json::array();
      for (auto& s : sets) j["anchor_sets"].push_back({{"name", s.name}, {"count", s.sample_ids.size()}});
      j["models"] = json::array();
      for (auto& m : models)
        j["models"].push_back({{"name", m.name}, {"latent_dim", m.latent_dim}, {"distance", OutputDistanceName(m.distance)},
                               {"anchor_sets", m.anchor_sets}, {"has_encoder", m.has_encoder}});
      j["collections"] = json::array();
      for (auto& c : colls) j["collections"].push_back(CollectionJson(c));
      std::cout << Dump(j, 2) << "\n";
      return;
    }
    std::cout << "database " << Txt(a->db) << "\n";
    std::cout << "anchor sets: " << sets.size() << "\n";
    for (auto& s : sets) std::cout << "  " << Txt(s.name) << "  K=" << s.sample_ids.size() << "\n";
    std::cout << "models: " << models.size() << "\n";
    for (auto& m : models) {
      std::cout << "  " << Txt(m.name) << "  d=" << m.latent_dim << "  " << OutputDistanceName(m.distance) << "  anchors:";
      for (auto& s : m.anchor_sets) std::cout << " " << Txt(s);
      std::cout << "\n";
    }
    std::cout << "collections: " << colls.size() << "\n";
    for (auto& c : colls)
      std::cout << "  " << Txt(c.name) << "  " << Txt(c.options.index) << (c.index_trained ? "" : " (untrained: exact search)")
                << "  anchors=" << Txt(c.options.anchor_set) << "  items=" << c.items << "  steps=" << c.options.steps << " "
                << PathModeName(c.options.mode) << "  index " << Txt(c.index_state) << "\n";
  });
}

const bool registered = RegisterCommand(20, RegisterAnchors) && RegisterCommand(21, RegisterModel) &&
                        RegisterCommand(22, RegisterCollection) && RegisterCommand(23, RegisterIndex) &&
                        RegisterCommand(24, RegisterSearch) && RegisterCommand(25, RegisterRemove) &&
                        RegisterCommand(26, RegisterInfo);

}  // namespace
}  // namespace relgeo::cli
