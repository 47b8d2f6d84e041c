// IndexSpec (include/relgeo/index.h): parsing and printing index specs and the
// per-call search limits. Kept apart from faiss_index.cpp so that it builds without
// FAISS (fuzz/index_spec_fuzzer.cpp).
#include <algorithm>
#include <cctype>
#include <regex>
#include <string>

#include "relgeo/index.h"

namespace relgeo {

// ---------------------------------------------------------------- IndexSpec
Result<IndexSpec> IndexSpec::Parse(const std::string& text) {
  IndexSpec s;
  std::smatch m;
  // A spec can come from outside (the command line, a damaged record or index file);
  // libstdc++'s std::regex recurses per character, so long text is refused first.
  if (text.size() > kMaxIndexSpecLength)
    return Status::InvalidArgument("index spec is too long (" + std::to_string(text.size()) + " bytes, at most " +
                                   std::to_string(kMaxIndexSpecLength) + ")");
  static const std::regex flat("^\\s*Flat(,\\s*(SQ8|fp16))?\\s*$", std::regex::icase);
  static const std::regex hnsw("^\\s*HNSW(\\d+)(,\\s*Flat)?\\s*$", std::regex::icase);
  static const std::regex ivf("^\\s*IVF(\\d+)(,\\s*(Flat|SQ8|PQ\\d+))?\\s*$", std::regex::icase);
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("index spec '" + PrintableText(text) + "': " + why +
                                   " (expected Flat[,fp16|SQ8], HNSW<M>[,Flat] or IVF<nlist>[,Flat|SQ8|PQ<m>])");
  };
  if (std::regex_match(text, m, flat)) {
    s.kind = Kind::kFlat;
    if (m[2].matched) s.flat_codec = std::toupper(static_cast<unsigned char>(m[2].str()[0])) == 'F' ? "fp16" : "SQ8";
  } else if (std::regex_match(text, m, hnsw)) {
    s.kind = Kind::kHNSW;
    if (m[1].length() > 4) return bad("M out of range");
    s.hnsw_m = std::stoi(m[1]);
    if (s.hnsw_m < 2 || s.hnsw_m > 256) return bad("M must be in [2, 256]");
  } else if (std::regex_match(text, m, ivf)) {
    s.kind = Kind::kIVF;
    if (m[1].length() > 7) return bad("nlist out of range");
    s.nlist = std::stoi(m[1]);
    if (s.nlist < 1 || s.nlist > kMaxNlist) return bad("nlist must be in [1, " + std::to_string(kMaxNlist) + "]");
    if (m[3].matched) {
      std::string c = m[3];
      std::transform(c.begin(), c.end(), c.begin(), ::toupper);
      if (c.rfind("PQ", 0) == 0) {
        // m sub-quantizers: VectorIndex::Create checks that m divides the dimension.
        if (c.size() > 2 + 7) return bad("PQ m out of range");
        const int pq_m = std::stoi(c.substr(2));
        if (pq_m < 1 || pq_m > (1 << 20)) return bad("PQ m must be in [1, 1048576]");
        c = "PQ" + std::to_string(pq_m);
      }
      s.ivf_codec = c == "FLAT" ? "Flat" : c;
    }
  } else {
    return bad("not understood");
  }
  return s;
}

std::string IndexSpec::ToString() const {
  switch (kind) {
    case Kind::kFlat: return flat_codec.empty() ? "Flat" : "Flat," + flat_codec;
    case Kind::kHNSW: return "HNSW" + std::to_string(hnsw_m);
    case Kind::kIVF: return "IVF" + std::to_string(nlist) + "," + ivf_codec;
  }
  return "?";
}

Status CheckSearchParams(const IndexSpec& spec, const IndexSearchParams& p) {
  if (p.ef_search < 0 || p.ef_search > kMaxEfSearch)
    return Status::InvalidArgument("ef_search must be in [0, " + std::to_string(kMaxEfSearch) +
                                   "] (0: the default, 64), got " + std::to_string(p.ef_search));
  if (p.nprobe < 0 || p.nprobe > kMaxNlist)
    return Status::InvalidArgument("nprobe must be in [0, " + std::to_string(kMaxNlist) +
                                   "] (0: the default, 16), got " + std::to_string(p.nprobe));
  if (spec.kind == IndexSpec::Kind::kIVF && p.nprobe > spec.nlist)
    return Status::InvalidArgument("nprobe " + std::to_string(p.nprobe) + " is more than nlist, the " +
                                   std::to_string(spec.nlist) + " lists of index " + spec.ToString());
  return Status::OK();
}

int64_t IndexSpec::TrainThreshold() const {
  if (kind == Kind::kFlat) return flat_codec == "SQ8" ? 1000 : 0;
  if (kind != Kind::kIVF) return 0;
  int64_t t = int64_t{39} * nlist;
  if (ivf_codec.rfind("PQ", 0) == 0) t = std::max<int64_t>(t, 39 * 256);
  return t;
}

}  // namespace relgeo
