// libFuzzer target for the index spec parser (IndexSpec::Parse, indexes/index_spec.cpp):
// specs come from the command line (--index), collection records and index files.
// Checks: a parsed spec prints (ToString) to text that parses to the same spec; its
// numbers are in range; CheckSearchParams and TrainThreshold never misbehave.
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "relgeo/index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using relgeo::IndexSpec;
  using relgeo::fuzz::Check;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = IndexSpec::Parse(text);
  if (!spec.ok()) {
    Check(!spec.status().message().empty());
    Check(spec.status().code() == relgeo::StatusCode::kInvalidArgument);
    return 0;
  }
  const std::string printed = spec->ToString();
  auto again = IndexSpec::Parse(printed);
  Check(again.ok());
  Check(again->ToString() == printed);
  Check(again->kind == spec->kind && again->hnsw_m == spec->hnsw_m && again->nlist == spec->nlist &&
        again->ivf_codec == spec->ivf_codec);
  switch (spec->kind) {
    case IndexSpec::Kind::kFlat: break;
    case IndexSpec::Kind::kHNSW: Check(spec->hnsw_m >= 2 && spec->hnsw_m <= 256); break;
    case IndexSpec::Kind::kIVF:
      Check(spec->nlist >= 1 && spec->nlist <= relgeo::kMaxNlist);
      Check(spec->ivf_codec == "Flat" || spec->ivf_codec == "SQ8" || spec->ivf_codec.rfind("PQ", 0) == 0);
      if (spec->ivf_codec.rfind("PQ", 0) == 0) {
        const std::string digits = spec->ivf_codec.substr(2);
        Check(!digits.empty() && digits.size() <= 7 && digits[0] != '0');
        const long m = std::stol(digits);  // what VectorIndex::Create does (std::stoi): must not throw
        Check(m >= 1 && m <= (1 << 20));
      }
      break;
  }
  Check(spec->TrainThreshold() >= 0);
  relgeo::IndexSearchParams p;
  if (size >= 8) {
    std::memcpy(&p.ef_search, data, 4);
    std::memcpy(&p.nprobe, data + 4, 4);
  }
  (void)relgeo::CheckSearchParams(*spec, p);
  return 0;
}
