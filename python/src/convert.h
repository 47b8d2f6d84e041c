// What every binding file shares: NumPy arrays <-> relgeo matrices, and Status ->
// Python exception (relgeo/errors.py keeps the classes; the code name rides along).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::python {

namespace py = pybind11;

// float32, C-contiguous: pybind11 hands such an array over as it is (no copy) and
// converts anything else (float64, strided, integer) into a new one.
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IdArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Thrown by the bindings, turned into relgeo.errors.<class> by the translator
// RegisterErrorTranslator installs.
struct StatusError {
  Status status;
};

[[noreturn]] inline void Throw(const Status& s) { throw StatusError{s}; }
inline void ThrowIfError(const Status& s) {
  if (!s.ok()) Throw(s);
}
template <typename T>
T ValueOrThrow(Result<T>&& r) {
  if (!r.ok()) Throw(r.status());
  return std::move(r).value();
}

void RegisterErrorTranslator();

}  // namespace relgeo::python
namespace relgeo {
class Database;
}
namespace relgeo::python {
// The database behind a relgeo._core.Database (FailedPrecondition once closed).
Database& DatabaseOf(const py::handle& db);

// A 2-D view over the array's own memory (`what` names the argument in errors).
MatrixView AsMatrix(const FloatArray& a, const char* what);
std::vector<int64_t> AsIds(const IdArray& a, const char* what);

// Hands the matrix's storage to NumPy without copying (a capsule owns it).
py::array_t<float> ToNumpy(Matrix&& m);
py::array_t<int64_t> ToNumpy(std::vector<int64_t>&& v, int64_t rows, int64_t cols);
py::array_t<float> ToNumpy(std::vector<float>&& v, int64_t rows, int64_t cols);

// Calls that run long release the GIL; between their pieces they take it back to
// report progress and to let Ctrl-C (KeyboardInterrupt) through.
// Returns false when `progress` returned False; raises what `progress` raised.
bool ReportProgress(const py::object& progress, int64_t done, int64_t total);

}  // namespace relgeo::python
