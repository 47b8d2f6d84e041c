#include "convert.h"

#include <utility>

namespace relgeo::python {

namespace {

// The relgeo.errors class for a status code (ValueError, KeyError, OSError... subclasses).
const char* ErrorClassName(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return "InvalidArgumentError";
    case StatusCode::kNotFound: return "NotFoundError";
    case StatusCode::kAlreadyExists: return "AlreadyExistsError";
    case StatusCode::kCorruption: return "CorruptionError";
    case StatusCode::kIOError: return "StorageError";
    case StatusCode::kFailedPrecondition: return "FailedPreconditionError";
    case StatusCode::kUnimplemented: return "UnimplementedError";
    default: return "InternalError";
  }
}

}  // namespace

void RegisterErrorTranslator() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      py::module_ errors = py::module_::import("relgeo.errors");
      py::object cls = errors.attr(ErrorClassName(e.status.code()));
      py::object exc = cls(e.status.message());
      PyErr_SetObject(cls.ptr(), exc.ptr());
    }
  });
}

MatrixView AsMatrix(const FloatArray& a, const char* what) {
  if (a.ndim() != 2) {
    std::string shape;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    Throw(Status::InvalidArgument(std::string(what) + " must be a 2-D array (rows x columns), got shape (" + shape +
                                  (a.ndim() == 1 ? ",)" : ")")));
  }
  return MatrixView(a.data(), a.shape(0), a.shape(1));
}

std::vector<int64_t> AsIds(const IdArray& a, const char* what) {
  if (a.ndim() != 1) {
    Throw(Status::InvalidArgument(std::string(what) + " must be a 1-D array of ids, got " + std::to_string(a.ndim()) +
                                  " dimensions"));
  }
  return std::vector<int64_t>(a.data(), a.data() + a.shape(0));
}

template <typename T, typename Owner>
static py::array_t<T> Hand(Owner* owner, T* data, int64_t rows, int64_t cols) {
  py::capsule cap(owner, [](void* p) { delete static_cast<Owner*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)}, data, cap);
}

py::array_t<float> ToNumpy(Matrix&& m) {
  auto* owner = new Matrix(std::move(m));
  return Hand<float>(owner, owner->data(), owner->rows(), owner->cols());
}

py::array_t<int64_t> ToNumpy(std::vector<int64_t>&& v, int64_t rows, int64_t cols) {
  auto* owner = new std::vector<int64_t>(std::move(v));
  return Hand<int64_t>(owner, owner->data(), rows, cols);
}

py::array_t<float> ToNumpy(std::vector<float>&& v, int64_t rows, int64_t cols) {
  auto* owner = new std::vector<float>(std::move(v));
  return Hand<float>(owner, owner->data(), rows, cols);
}

bool ReportProgress(const py::object& progress, int64_t done, int64_t total) {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  if (progress.is_none()) return true;
  py::object r = progress(done, total < 0 ? py::object(py::none()) : py::object(py::int_(total)));
  return !(r.is(py::bool_(false)));
}

}  // namespace relgeo::python
