// relgeo._core.Encoder (relgeo.encode and relgeo.Encoder in Python), the version and
// the thread count.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "convert.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/threads.h"
#include "relgeo/version.h"

namespace relgeo::python {
namespace {

// Rows per Encode call while reporting progress: enough work per call that the
// encoder keeps both its lanes busy, small enough that Ctrl-C and the progress bar
// answer within about a second on the paper's maps.
int64_t ChunkRows(int64_t n) { return std::max<int64_t>(256, (n + 49) / 50); }

EncoderPrecision ParsePrecision(const std::string& name) {
  if (name == "fp32" || name == "float32") return EncoderPrecision::kFloat32;
  if (name == "bf16" || name == "bfloat16") return EncoderPrecision::kBFloat16;
  Throw(Status::InvalidArgument("precision must be 'fp32' or 'bf16', not '" + PrintableText(name) + "'"));
}

// A relgeo (RelativeEncoder) or cosine (CosineEncoder) encoder with its anchors.
class PyEncoder {
 public:
  // map_is_path: `map` is a file path, else the bytes of a saved map.
  PyEncoder(const py::object& map, bool map_is_path, const FloatArray& anchors, int steps, const std::string& mode,
            const std::string& distance, const std::string& method, const std::string& precision,
            const std::string& device, int64_t input_dim) {
    MatrixView a = AsMatrix(anchors, "anchors");
    method_ = method;
    if (method == "cosine") {
      ThrowIfError(CheckLatents(a, 0, "anchors"));
      cosine_ = std::make_unique<CosineEncoder>(ValueOrThrow(CosineEncoder::Create(a)));
      dim_ = a.cols();
      return;
    }
    if (method != "relgeo") {
      Throw(Status::InvalidArgument("method must be 'relgeo' or 'cosine', not '" + PrintableText(method) + "'"));
    }
    MetricMapOptions mo;
    mo.input_dim = input_dim;
    mo.distance = ValueOrThrow(ParseOutputDistance(distance));
    mo.device = device;
    EncoderOptions eo;
    eo.steps = steps;
    eo.mode = ValueOrThrow(ParsePathMode(mode));
    eo.precision = ParsePrecision(precision);
    std::string source = map_is_path ? map.cast<std::string>() : std::string(map.cast<py::bytes>());
    py::gil_scoped_release nogil;
    Result<std::shared_ptr<MetricMap>> loaded =
        map_is_path ? MetricMap::Load(source, mo) : MetricMap::FromBytes(source, mo);
    if (!loaded.ok()) Throw(loaded.status());
    relgeo_ = ValueOrThrow(RelativeEncoder::Create(std::move(loaded).value(), a, eo));
    dim_ = relgeo_->latent_dim();
  }

  // Encodes in pieces of ChunkRows rows when asked for progress (each piece one
  // batched call); otherwise in one call. Ctrl-C is honoured between pieces.
  py::array_t<float> Encode(const FloatArray& latents, const py::object& progress) const {
    MatrixView z = AsMatrix(latents, "latents");
    ThrowIfError(CheckLatents(z, dim_, "latents"));
    const int64_t n = z.rows();
    const int64_t chunk = progress.is_none() ? n : ChunkRows(n);
    Matrix out;
    {
      py::gil_scoped_release nogil;
      for (int64_t begin = 0; begin < n; begin += chunk) {
        const int64_t rows = std::min(chunk, n - begin);
        Matrix part = ValueOrThrow(EncodeRows(z.RowSlice(begin, rows)));
        if (begin == 0 && rows == n) {
          out = std::move(part);
        } else {
          if (out.empty()) out = Matrix(n, part.cols());
          std::copy(part.data(), part.data() + part.size(), out.row(begin));
        }
        if (!ReportProgress(progress, begin + rows, n)) {
          Throw(Status::FailedPrecondition("encode stopped by its progress callback after " +
                                           std::to_string(begin + rows) + " of " + std::to_string(n) + " rows"));
        }
      }
    }
    return ToNumpy(std::move(out));
  }

  int64_t num_anchors() const { return relgeo_ ? relgeo_->num_anchors() : cosine_->num_anchors(); }
  int64_t latent_dim() const { return dim_; }
  const std::string& method() const { return method_; }
  std::string execution_plan() const { return relgeo_ ? relgeo_->execution_plan() : "cosine similarity to anchors"; }

  // The C++ call the Python one wraps, for the overhead benchmark (bench/bench_python.py).
  Result<Matrix> EncodeRows(MatrixView z) const { return relgeo_ ? relgeo_->Encode(z) : cosine_->Encode(z); }

 private:
  std::string method_;
  int64_t dim_ = 0;
  std::unique_ptr<RelativeEncoder> relgeo_;
  std::unique_ptr<CosineEncoder> cosine_;
};

}  // namespace

void RegisterEncode(py::module_& m) {
  py::class_<PyEncoder>(m, "Encoder")
      .def(py::init<const py::object&, bool, const FloatArray&, int, const std::string&, const std::string&,
                    const std::string&, const std::string&, const std::string&, int64_t>(),
           py::arg("map"), py::arg("map_is_path"), py::arg("anchors"), py::arg("steps"), py::arg("mode"),
           py::arg("distance"), py::arg("method"), py::arg("precision"), py::arg("device"), py::arg("input_dim"))
      .def("encode", &PyEncoder::Encode, py::arg("latents"), py::arg("progress") = py::none())
      .def_property_readonly("num_anchors", &PyEncoder::num_anchors)
      .def_property_readonly("latent_dim", &PyEncoder::latent_dim)
      .def_property_readonly("method", &PyEncoder::method)
      .def_property_readonly("execution_plan", &PyEncoder::execution_plan)
      .def(
          "_time_cpp_encode",
          [](const PyEncoder& e, const FloatArray& latents, int repeats) {
            MatrixView z = AsMatrix(latents, "latents");
            py::gil_scoped_release nogil;
            auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < repeats; ++i) ValueOrThrow(e.EncodeRows(z));
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeats;
          },
          "Seconds per C++ RelativeEncoder::Encode call on these latents (no Python in between).");

  m.def("version", [] {
    BuildInfo b = GetBuildInfo();
    py::dict d;
    d["relgeo"] = b.relgeo;
    d["libtorch"] = b.libtorch;
    d["faiss"] = b.faiss;
    d["rocksdb"] = b.rocksdb;
    d["eigen"] = b.eigen;
    d["cpu_features"] = b.cpu_features;
    d["map_formats"] = b.map_formats;
    d["cuda"] = b.cuda;
    d["cuda_devices"] = b.cuda_devices;
    return d;
  });
  m.def("set_threads", [](int n) { return ConfigureThreads(n); }, py::arg("n"));
  m.def("threads", [] { return ConfiguredThreads(); });
  // For tests of the zero-copy promise: the address the bindings read an array at.
  m.def("_input_address", [](const FloatArray& a) { return reinterpret_cast<uintptr_t>(a.data()); });
}

}  // namespace relgeo::python
