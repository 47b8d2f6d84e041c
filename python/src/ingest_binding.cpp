// relgeo._core's distributed bulk indexing (docs/distributed.md): the driver's
// ticket and ingest, and the worker's item-file writer (no database open there).
#include <string>
#include <vector>

#include "convert.h"
#include "relgeo/database.h"

namespace relgeo::python {

void RegisterIngest(py::module_& m) {
  m.def("prepare_ingest", [](const py::object& db, const std::string& collection, const std::string& model) {
    Database& d = DatabaseOf(db);
    IngestTicket t;
    {
      py::gil_scoped_release nogil;
      t = ValueOrThrow(d.PrepareIngest(collection, model));
    }
    py::dict out;
    out["ticket"] = py::bytes(t.ticket);
    out["map_bytes"] = py::bytes(t.map_bytes);
    out["distance"] = std::string(OutputDistanceName(t.distance));
    out["steps"] = t.steps;
    out["mode"] = std::string(PathModeName(t.mode));
    out["anchors"] = ToNumpy(std::move(t.anchor_latents));
    return out;
  });
  m.def("write_item_file", [](const py::bytes& ticket, const std::string& path, const IdArray& ids,
                              const FloatArray& reps) {
    std::vector<int64_t> id = AsIds(ids, "ids");
    MatrixView r = AsMatrix(reps, "representations");
    std::string t = ticket;
    py::gil_scoped_release nogil;
    ThrowIfError(WriteItemFile(t, path, id, r));
  });
  m.def("ingest_item_files", [](const py::object& db, const std::string& collection, const std::string& model,
                                const py::bytes& ticket, const std::vector<std::string>& paths) {
    Database& d = DatabaseOf(db);
    std::string t = ticket;
    IngestStats s;
    {
      py::gil_scoped_release nogil;
      s = ValueOrThrow(d.IngestItemFiles(collection, model, t, paths));
    }
    py::dict out;
    out["files"] = s.files;
    out["items"] = s.items;
    out["replaced"] = s.replaced;
    out["read_seconds"] = s.read_seconds;
    out["ingest_seconds"] = s.ingest_seconds;
    out["index_seconds"] = s.index_seconds;
    out["index_not_saved"] = s.index_not_saved;
    return out;
  });
}

}  // namespace relgeo::python
