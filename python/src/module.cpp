// relgeo._core: the C++ side of the Python package (python/relgeo/ is the public
// face; docs/python.md). One registration function per part.
#include "convert.h"

namespace relgeo::python {
void RegisterEncode(py::module_& m);
void RegisterDatabase(py::module_& m);
void RegisterEval(py::module_& m);
void RegisterIngest(py::module_& m);
}  // namespace relgeo::python

PYBIND11_MODULE(_core, m) {
  namespace rp = relgeo::python;
  m.doc() = "relgeo's C++ core; use the relgeo package, not this module";
  rp::RegisterErrorTranslator();
  rp::RegisterEncode(m);
  rp::RegisterDatabase(m);
  rp::RegisterEval(m);
  rp::RegisterIngest(m);
}
