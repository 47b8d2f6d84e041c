// relgeo._core eval functions (relgeo.eval in Python): MRR, cosine relative
// representations, the alignment baselines and the anchor selectors.
#include <string>
#include <vector>

#include "convert.h"
#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/mrr.h"
#include "relgeo/relative_encoder.h"

namespace relgeo::python {
namespace {

Similarity ParseSimilarity(const std::string& name) {
  if (name == "cosine") return Similarity::kCosine;
  if (name == "cdist") return Similarity::kCdist;
  Throw(Status::InvalidArgument("similarity must be 'cosine' or 'cdist', not '" + PrintableText(name) + "'"));
}

Standardize ParseStandardize(const std::string& name) {
  if (name == "per_dimension") return Standardize::kPerDimension;
  if (name == "global") return Standardize::kGlobal;
  if (name == "none") return Standardize::kNone;
  Throw(Status::InvalidArgument("standardize must be 'per_dimension', 'global' or 'none', not '" +
                                PrintableText(name) + "'"));
}

template <typename F>
auto WithoutGil(F&& f) {
  py::gil_scoped_release nogil;
  return ValueOrThrow(f());
}

}  // namespace

void RegisterEval(py::module_& m) {
  m.def("mrr", [](const FloatArray& x1, const FloatArray& x2, const std::string& similarity, bool symmetric, int64_t k) {
    MatrixView a = AsMatrix(x1, "x1"), b = AsMatrix(x2, "x2");
    MrrOptions o;
    o.similarity = ParseSimilarity(similarity);
    o.symmetric = symmetric;
    o.k = k;
    return WithoutGil([&] { return MeanReciprocalRank(a, b, o); });
  });
  m.def("retrieval_ranks", [](const FloatArray& x1, const FloatArray& x2, const std::string& similarity, bool symmetric) {
    MatrixView a = AsMatrix(x1, "x1"), b = AsMatrix(x2, "x2");
    std::vector<int64_t> ranks = WithoutGil([&] { return RetrievalRanks(a, b, ParseSimilarity(similarity), symmetric); });
    const int64_t n = static_cast<int64_t>(ranks.size());
    return ToNumpy(std::move(ranks), 1, n).attr("reshape")(-1);
  });
  m.def("mrr_all_variants", [](const FloatArray& x1, const FloatArray& x2, int64_t k) {
    MatrixView a = AsMatrix(x1, "x1"), b = AsMatrix(x2, "x2");
    MrrReport r = WithoutGil([&] { return MrrAllVariants(a, b, k); });
    py::dict d;
    d["cosine_sym"] = r.cosine_sym;
    d["cosine"] = r.cosine;
    d["cdist_sym"] = r.cdist_sym;
    d["cdist"] = r.cdist;
    d["cosine_sym_at_k"] = r.cosine_sym_at_k;
    d["cosine_at_k"] = r.cosine_at_k;
    d["cdist_sym_at_k"] = r.cdist_sym_at_k;
    d["cdist_at_k"] = r.cdist_at_k;
    d["k"] = r.k;
    return d;
  });
  m.def("select_anchors", [](const FloatArray& pool, int64_t k, const std::string& method, uint64_t seed) {
    MatrixView p = AsMatrix(pool, "pool");
    AnchorSelection s = ValueOrThrow(ParseAnchorSelection(method));
    std::vector<int64_t> rows = WithoutGil([&] { return SelectAnchors(p, k, s, seed); });
    const int64_t n = static_cast<int64_t>(rows.size());
    return ToNumpy(std::move(rows), 1, n).attr("reshape")(-1);
  });

  py::class_<Alignment>(m, "Alignment")
      .def_static(
          "fit",
          [](const std::string& method, const FloatArray& anchors1, const FloatArray& anchors2, double ridge,
             const std::string& standardize) {
            MatrixView a = AsMatrix(anchors1, "anchors1"), b = AsMatrix(anchors2, "anchors2");
            AlignOptions o;
            o.ridge = ridge;
            o.standardize = ParseStandardize(standardize);
            AlignMethod am = ValueOrThrow(ParseAlignMethod(method));
            return WithoutGil([&] { return Alignment::Fit(am, a, b, o); });
          })
      .def("source_to_shared",
           [](const Alignment& al, const FloatArray& z) {
             MatrixView v = AsMatrix(z, "z1");
             return ToNumpy(WithoutGil([&] { return al.SourceToShared(v); }));
           })
      .def("target_to_shared",
           [](const Alignment& al, const FloatArray& z) {
             MatrixView v = AsMatrix(z, "z2");
             return ToNumpy(WithoutGil([&] { return al.TargetToShared(v); }));
           })
      .def("source_to_target",
           [](const Alignment& al, const FloatArray& z) {
             MatrixView v = AsMatrix(z, "z1");
             return ToNumpy(WithoutGil([&] { return al.SourceToTarget(v); }));
           })
      .def_property_readonly("method", [](const Alignment& al) { return std::string(AlignMethodName(al.method())); })
      .def_property_readonly("source_dim", &Alignment::source_dim)
      .def_property_readonly("target_dim", &Alignment::target_dim)
      .def_property_readonly("matrix", [](const Alignment& al) { return ToNumpy(Matrix::CopyOf(al.matrix())); });
}

}  // namespace relgeo::python
