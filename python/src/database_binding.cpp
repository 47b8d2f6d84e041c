// relgeo._core.Database: the embedded database (include/relgeo/database.h). Every
// call releases the GIL before it takes the database's locks, so Python callbacks
// (batches, progress, filters), which take the GIL back, cannot deadlock with them.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "convert.h"
#include "relgeo/database.h"

namespace relgeo::python {
namespace {

py::dict InfoDict(const CollectionInfo& c) {
  py::dict d;
  d["name"] = c.name;
  d["anchor_set"] = c.options.anchor_set;
  d["index"] = c.options.index;
  d["steps"] = c.options.steps;
  d["mode"] = std::string(PathModeName(c.options.mode));
  d["items"] = c.items;
  d["indexed"] = c.indexed;
  d["index_trained"] = c.index_trained;
  d["version"] = c.version;
  d["index_state"] = c.index_state;
  return d;
}

std::vector<std::string> AsPayloads(const py::object& payloads) {
  std::vector<std::string> out;
  if (payloads.is_none()) return out;
  for (const py::handle& p : payloads) {
    if (py::isinstance<py::bytes>(p)) {
      out.emplace_back(p.cast<std::string>());
    } else if (py::isinstance<py::str>(p)) {
      out.emplace_back(p.cast<std::string>());  // UTF-8
    } else {
      Throw(Status::InvalidArgument("payloads must be bytes or str, got " +
                                    std::string(py::str(py::type::handle_of(p).attr("__name__")))));
    }
  }
  return out;
}

// The first Python exception a callback raised while the GIL was released; raised
// again once the C++ call has returned (what was committed before it stays).
struct PendingError {
  std::unique_ptr<py::error_already_set> error;
  void Keep(py::error_already_set& e) {
    if (!error) error = std::make_unique<py::error_already_set>(std::move(e));
  }
  void RaiseIfAny() {
    if (error) {
      std::unique_ptr<py::error_already_set> e = std::move(error);
      e->restore();
      throw py::error_already_set();
    }
  }
};

// An IdFilter from a Python callable (called under the GIL) or from any iterable of
// allowed ids (a C++ set: no Python per candidate).
IdFilter MakeFilter(const py::object& filter, const std::shared_ptr<PendingError>& pending) {
  if (filter.is_none()) return nullptr;
  if (PyCallable_Check(filter.ptr())) {
    auto fn = std::make_shared<py::object>(filter);
    return [fn, pending](int64_t id) {
      py::gil_scoped_acquire gil;
      if (pending->error) return false;
      try {
        return py::bool_((*fn)(id)).cast<bool>();
      } catch (py::error_already_set& e) {
        pending->Keep(e);
        return false;
      }
    };
  }
  IdArray ids = IdArray::ensure(filter);
  if (!ids) {
    PyErr_Clear();
    Throw(Status::InvalidArgument("filter must be a callable id -> bool or a collection of allowed ids"));
  }
  auto allowed = std::make_shared<std::unordered_set<int64_t>>(ids.data(), ids.data() + ids.size());
  return [allowed](int64_t id) { return allowed->count(id) > 0; };
}

class PyDatabase {
  // The database, or FailedPrecondition once closed: checked with the GIL held.
  Database& db() const {
    if (!db_) Throw(Status::FailedPrecondition("the database is closed"));
    return *db_;
  }
  // f() (a Status or a Result) with the GIL released.
  template <typename F>
  void Unlocked(F&& f) const {
    db();
    py::gil_scoped_release nogil;
    ThrowIfError(f());
  }
  template <typename F>
  auto UnlockedValue(F&& f) const {
    db();
    py::gil_scoped_release nogil;
    return ValueOrThrow(f());
  }

 public:
  PyDatabase(const std::string& path, bool create_if_missing, bool read_only, bool sync_writes, int64_t index_save_every) {
    DatabaseOptions o;
    o.create_if_missing = create_if_missing;
    o.read_only = read_only;
    o.sync_writes = sync_writes;
    o.index_save_every = index_save_every;
    py::gil_scoped_release nogil;
    db_ = ValueOrThrow(Database::Open(path, o));
  }

  void Close() {
    py::gil_scoped_release nogil;
    ThrowIfError(db().Close());
  }
  void SaveIndexes() {
    py::gil_scoped_release nogil;
    ThrowIfError(db().SaveIndexes());
  }
  std::string path() const { return db().path(); }
  Database& database() const { return db(); }  // for the other binding files (DatabaseOf)

  void CreateAnchorSet(const std::string& name, const IdArray& ids) {
    std::vector<int64_t> v = AsIds(ids, "ids");
    py::gil_scoped_release nogil;
    ThrowIfError(db().CreateAnchorSet(name, v));
  }
  void DropAnchorSet(const std::string& name) { Unlocked([&] { return db().DropAnchorSet(name); }); }
  py::list ListAnchorSets() const {
    std::vector<AnchorSetInfo> sets = UnlockedValue([&] { return db().ListAnchorSets(); });
    py::list out;
    for (auto& s : sets) {
      py::dict d;
      d["name"] = s.name;
      const int64_t k = static_cast<int64_t>(s.sample_ids.size());
      d["sample_ids"] = ToNumpy(std::move(s.sample_ids), 1, k).attr("reshape")(-1);
      out.append(d);
    }
    return out;
  }

  void RegisterModel(const std::string& name, const py::bytes& map_bytes, const std::string& distance,
                     int64_t latent_dim, const py::object& encoder_bytes, const std::string& anchor_set,
                     const py::object& anchor_latents) {
    ModelSpec spec;
    spec.name = name;
    spec.map_bytes = map_bytes;
    spec.distance = ValueOrThrow(ParseOutputDistance(distance));
    spec.latent_dim = latent_dim;
    if (!encoder_bytes.is_none()) spec.encoder_bytes = encoder_bytes.cast<std::string>();
    spec.anchor_set = anchor_set;
    if (!anchor_latents.is_none()) {
      FloatArray a = anchor_latents.cast<FloatArray>();
      spec.anchor_latents = Matrix::CopyOf(AsMatrix(a, "anchor_latents"));
    }
    py::gil_scoped_release nogil;
    ThrowIfError(db().RegisterModel(spec));
  }
  void AttachAnchors(const std::string& model, const std::string& anchor_set, const FloatArray& latents) {
    MatrixView a = AsMatrix(latents, "anchor_latents");
    py::gil_scoped_release nogil;
    ThrowIfError(db().AttachAnchors(model, anchor_set, a));
  }
  void DropModel(const std::string& name) { Unlocked([&] { return db().DropModel(name); }); }
  py::list ListModels() const {
    std::vector<ModelInfo> models = UnlockedValue([&] { return db().ListModels(); });
    py::list out;
    for (const auto& m : models) {
      py::dict d;
      d["name"] = m.name;
      d["latent_dim"] = m.latent_dim;
      d["output_dim"] = m.output_dim;
      d["distance"] = std::string(OutputDistanceName(m.distance));
      d["map_bytes"] = m.map_bytes;
      d["has_encoder"] = m.has_encoder;
      d["anchor_sets"] = m.anchor_sets;
      out.append(d);
    }
    return out;
  }

  void CreateCollection(const std::string& name, const std::string& anchor_set, const std::string& index, int steps,
                        const std::string& mode) {
    CollectionOptions o;
    o.anchor_set = anchor_set;
    o.index = index;
    o.steps = steps;
    o.mode = ValueOrThrow(ParsePathMode(mode));
    py::gil_scoped_release nogil;
    ThrowIfError(db().CreateCollection(name, o));
  }
  void DropCollection(const std::string& name) { Unlocked([&] { return db().DropCollection(name); }); }
  py::list ListCollections() const {
    std::vector<CollectionInfo> cs = UnlockedValue([&] { return db().ListCollections(); });
    py::list out;
    for (const auto& c : cs) out.append(InfoDict(c));
    return out;
  }
  py::dict CollectionInfoOf(const std::string& name) const {
    return InfoDict(UnlockedValue([&] { return db().GetCollectionInfo(name); }));
  }

  void Add(const std::string& collection, const std::string& model, const IdArray& ids, const FloatArray& latents,
           const py::object& payloads, bool representations) {
    std::vector<int64_t> id_list = AsIds(ids, "ids");
    MatrixView z = AsMatrix(latents, representations ? "representations" : "latents");
    std::vector<std::string> p = AsPayloads(payloads);
    py::gil_scoped_release nogil;
    ThrowIfError(representations ? db().AddRepresentations(collection, model, id_list, z, p)
                                 : db().Add(collection, model, id_list, z, p));
  }

  // Pulls (ids, latents) pairs from a Python iterator (under the GIL), re-cut into
  // BulkAdd's batches; what the iterator raises is raised after the committed batches.
  py::dict BulkAdd(const std::string& collection, const std::string& model, const py::object& batches,
                   int64_t batch_size, int64_t total, const py::object& progress, const std::string& resume_key) {
    auto pending = std::make_shared<PendingError>();
    struct Buffer {
      std::vector<int64_t> ids;
      std::vector<float> rows;
      int64_t cols = -1;
      bool done = false;
    };
    auto buf = std::make_shared<Buffer>();
    py::object it = batches;
    BatchSource source = [&, buf, pending](int64_t max_rows, std::vector<int64_t>* ids, Matrix* latents) -> Result<int64_t> {
      py::gil_scoped_acquire gil;
      try {
        while (!buf->done && static_cast<int64_t>(buf->ids.size()) < max_rows) {
          if (PyErr_CheckSignals() != 0) throw py::error_already_set();
          // One item at a time, only when needed: what the iterable raises surfaces
          // after the batches before it are committed.
          py::object next = py::reinterpret_steal<py::object>(PyIter_Next(it.ptr()));
          if (!next) {
            if (PyErr_Occurred()) throw py::error_already_set();
            buf->done = true;
            break;
          }
          py::tuple pair = next.cast<py::tuple>();
          if (pair.size() != 2) return Status::InvalidArgument("each batch must be a pair (ids, latents)");
          IdArray batch_ids = pair[0].cast<IdArray>();
          FloatArray batch_latents = pair[1].cast<FloatArray>();
          std::vector<int64_t> i = AsIds(batch_ids, "batch ids");
          MatrixView z = AsMatrix(batch_latents, "batch latents");
          if (static_cast<int64_t>(i.size()) != z.rows())
            return Status::InvalidArgument("a batch has " + std::to_string(i.size()) + " ids for " +
                                           std::to_string(z.rows()) + " rows");
          if (buf->cols >= 0 && z.cols() != buf->cols)
            return Status::InvalidArgument("a batch has " + std::to_string(z.cols()) + " columns, earlier ones " +
                                           std::to_string(buf->cols));
          buf->cols = z.cols();
          buf->ids.insert(buf->ids.end(), i.begin(), i.end());
          buf->rows.insert(buf->rows.end(), z.data(), z.data() + z.size());
        }
      } catch (py::error_already_set& e) {
        pending->Keep(e);
        return Status::Internal("the batches iterable raised an exception");
      } catch (const StatusError& e) {
        return e.status;
      } catch (const py::cast_error&) {
        return Status::InvalidArgument("each batch must be a pair (ids, latents) of arrays");
      }
      const int64_t rows = std::min<int64_t>(max_rows, static_cast<int64_t>(buf->ids.size()));
      const int64_t cols = std::max<int64_t>(buf->cols, 0);
      ids->assign(buf->ids.begin(), buf->ids.begin() + rows);
      *latents = Matrix(rows, cols, std::vector<float>(buf->rows.begin(), buf->rows.begin() + rows * cols));
      buf->ids.erase(buf->ids.begin(), buf->ids.begin() + rows);
      buf->rows.erase(buf->rows.begin(), buf->rows.begin() + rows * cols);
      return rows;
    };
    BulkOptions o;
    o.batch_size = batch_size;
    o.total = total;
    o.resume_key = resume_key;
    o.progress = [progress, pending](const BulkProgress& p) {
      try {
        return ReportProgress(progress, p.done, p.total);
      } catch (py::error_already_set& e) {
        py::gil_scoped_acquire gil;
        pending->Keep(e);
        return false;
      }
    };
    Result<BulkStats> r = [&] {
      py::gil_scoped_release nogil;
      return db().BulkAdd(collection, model, source, o);
    }();
    pending->RaiseIfAny();
    BulkStats s = ValueOrThrow(std::move(r));
    py::dict d;
    d["items"] = s.items;
    d["batches"] = s.batches;
    d["skipped_items"] = s.skipped_items;
    d["skipped_batches"] = s.skipped_batches;
    d["encode_seconds"] = s.encode_seconds;
    d["store_seconds"] = s.store_seconds;
    d["index_seconds"] = s.index_seconds;
    d["total_seconds"] = s.total_seconds;
    d["index_not_saved"] = s.index_not_saved;
    return d;
  }

  int64_t Remove(const std::string& collection, const IdArray& ids) {
    std::vector<int64_t> v = AsIds(ids, "ids");
    py::gil_scoped_release nogil;
    return ValueOrThrow(db().Remove(collection, v));
  }
  py::tuple Get(const std::string& collection, int64_t id) const {
    Item item = UnlockedValue([&] { return db().Get(collection, id); });
    const int64_t k = static_cast<int64_t>(item.representation.size());
    return py::make_tuple(item.id, item.model, ToNumpy(std::move(item.representation), 1, k).attr("reshape")(-1),
                          py::bytes(item.payload));
  }

  py::tuple Search(const std::string& collection, const std::string& model, const FloatArray& queries, int64_t k,
                   int ef_search, int nprobe, const py::object& filter, const std::string& kind) const {
    MatrixView q = AsMatrix(queries, kind == "latents" ? "queries" : kind.c_str());
    auto pending = std::make_shared<PendingError>();
    SearchParams params;
    params.ef_search = ef_search;
    params.nprobe = nprobe;
    params.filter = MakeFilter(filter, pending);
    Database& d = db();
    Result<SearchResults> r = [&] {
      py::gil_scoped_release nogil;
      auto t0 = std::chrono::steady_clock::now();
      Result<SearchResults> res = kind == "representations" ? d.SearchRepresentations(collection, q, k, params)
                                  : kind == "inputs"         ? d.SearchInputs(collection, model, q, k, params)
                                                             : d.Search(collection, model, q, k, params);
      last_search_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return res;
    }();
    pending->RaiseIfAny();
    SearchResults s = ValueOrThrow(std::move(r));
    return py::make_tuple(ToNumpy(std::move(s.ids), s.queries, s.k), ToNumpy(std::move(s.scores), s.queries, s.k));
  }

  py::array_t<float> Encode(const std::string& model, const std::string& anchor_set, const FloatArray& latents,
                            int steps, const std::string& mode) const {
    MatrixView z = AsMatrix(latents, "latents");
    EncoderOptions o;
    o.steps = steps;
    o.mode = ValueOrThrow(ParsePathMode(mode));
    Matrix reps = UnlockedValue([&] { return db().Encode(model, anchor_set, z, o); });
    return ToNumpy(std::move(reps));
  }
  py::array_t<float> EncodeInputs(const std::string& model, const FloatArray& inputs) const {
    MatrixView x = AsMatrix(inputs, "inputs");
    return ToNumpy(UnlockedValue([&] { return db().EncodeInputs(model, x); }));
  }

  // Seconds the last search spent inside the C++ Database call (this handle, any
  // thread): the Python overhead benchmark subtracts it from the call's wall time.
  double last_search_seconds() const { return last_search_seconds_; }

 private:
  std::unique_ptr<Database> db_;
  mutable std::atomic<double> last_search_seconds_{0};
};

}  // namespace

Database& DatabaseOf(const py::handle& db) { return db.cast<PyDatabase&>().database(); }

void RegisterDatabase(py::module_& m) {
  py::class_<PyDatabase>(m, "Database")
      .def(py::init<const std::string&, bool, bool, bool, int64_t>(), py::arg("path"), py::arg("create_if_missing"),
           py::arg("read_only"), py::arg("sync_writes"), py::arg("index_save_every"))
      .def("close", &PyDatabase::Close)
      .def("save_indexes", &PyDatabase::SaveIndexes)
      .def_property_readonly("path", &PyDatabase::path)
      .def("create_anchor_set", &PyDatabase::CreateAnchorSet)
      .def("drop_anchor_set", &PyDatabase::DropAnchorSet)
      .def("list_anchor_sets", &PyDatabase::ListAnchorSets)
      .def("register_model", &PyDatabase::RegisterModel)
      .def("attach_anchors", &PyDatabase::AttachAnchors)
      .def("drop_model", &PyDatabase::DropModel)
      .def("list_models", &PyDatabase::ListModels)
      .def("create_collection", &PyDatabase::CreateCollection)
      .def("drop_collection", &PyDatabase::DropCollection)
      .def("list_collections", &PyDatabase::ListCollections)
      .def("collection_info", &PyDatabase::CollectionInfoOf)
      .def("add", &PyDatabase::Add)
      .def("bulk_add", &PyDatabase::BulkAdd)
      .def("remove", &PyDatabase::Remove)
      .def("get", &PyDatabase::Get)
      .def("search", &PyDatabase::Search)
      .def("encode", &PyDatabase::Encode)
      .def("encode_inputs", &PyDatabase::EncodeInputs)
      .def("_last_search_seconds", &PyDatabase::last_search_seconds);
}

}  // namespace relgeo::python
