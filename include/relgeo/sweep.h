// The MRR anchor sweep of the paper's autoencoder retrieval experiment (Fig. 3):
// two models encode the same samples; for each anchor count and random draw,
// every method builds representations in both spaces and the retrieval MRR of
// row i -> row i is measured (docs/design.md §2). CSV and plot writers for the results.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "relgeo/anchors.h"
#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/mrr.h"
#include "relgeo/plot.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/status.h"

namespace relgeo {

enum class SweepMethod {
  kRelgeo,      // relative geodesic representations through each model's metric map
  kCosine,      // cosine relative representations (Moschella et al. 2023)
  kLinear,      // least-squares map fitted on the anchors
  kOrthogonal,  // Procrustes on standardised, zero-padded anchors
  kAbsolute,    // the latents as they are (independent of the anchors)
};
const char* SweepMethodName(SweepMethod m);
Result<SweepMethod> ParseSweepMethod(const std::string& name);
// "relgeo,cosine,linear" -> methods (duplicates and unknown names are errors).
Result<std::vector<SweepMethod>> ParseSweepMethods(const std::string& comma_list);

struct MrrSweepInputs {
  // Metric maps (decoders); needed only for kRelgeo.
  std::shared_ptr<const MetricMap> map_a, map_b;
  MatrixView latents_a, latents_b;  // n x d_a, n x d_b: row i is the same sample in both
  // Anchor pools, rows in correspondence (e.g. the validation split). Empty: anchors
  // are drawn from the evaluated rows.
  MatrixView pool_a, pool_b;
};

struct SweepProgress {
  std::string stage;  // "relgeo A", "relgeo B", "mrr"
  int64_t done = 0, total = 0;
};

struct MrrSweepOptions {
  std::vector<int64_t> anchor_counts = {2, 3, 5, 8, 10, 15, 20, 25, 50, 100, 300};
  int draws = 5;
  std::vector<SweepMethod> methods = {SweepMethod::kRelgeo, SweepMethod::kCosine, SweepMethod::kLinear,
                                      SweepMethod::kOrthogonal, SweepMethod::kAbsolute};
  EncoderOptions encoder;  // relgeo: steps (default 8), length/energy, memory budget
  AnchorSelection selection = AnchorSelection::kUniform;  // fps/kmeans run on pool_a
  uint64_t seed = 0;
  int64_t k = 10;  // for the @k columns
  // Draw d's anchor set for count K is the first K of one selection of max(K)
  // anchors (uniform and fps). Each set is still uniformly distributed; relgeo
  // then encodes max(K) anchors per draw instead of sum(K). false: independent sets.
  bool nested = true;
  // > 0: relgeo is evaluated only at anchor counts <= this (its cost grows with K;
  // the cheap baselines still run at every count).
  int64_t relgeo_max_anchors = 0;
  std::function<void(const SweepProgress&)> on_progress;
};

struct MrrSweepRow {
  std::string method;
  int64_t anchors = 0;
  int draw = 0;
  MrrReport mrr;         // mrr.cosine_sym is the headline "mrr" column
  double seconds = 0;    // time to build both spaces' representations (amortised for nested relgeo)
};

Result<std::vector<MrrSweepRow>> RunMrrSweep(const MrrSweepInputs& inputs, const MrrSweepOptions& options);

struct MrrSummaryRow {
  std::string method;
  int64_t anchors = 0;
  int draws = 0;
  double mean = 0, std = 0;  // of the symmetric cosine MRR over draws (population std)
  double min = 0, max = 0;
};
std::vector<MrrSummaryRow> SummarizeSweep(const std::vector<MrrSweepRow>& rows);

// CSV with header: method,anchors,draw,mrr,mrr_cosine_asym,mrr_cdist_sym,mrr_cdist_asym,
// mrr_at_k,mrr_cosine_asym_at_k,mrr_cdist_sym_at_k,mrr_cdist_asym_at_k,k,seconds
// (mrr = symmetric, cosine, full rank).
Status WriteSweepCsv(const std::string& path, const std::vector<MrrSweepRow>& rows);
// Reads what WriteSweepCsv wrote (columns located by header name; only method,
// anchors, draw and mrr are required). A malformed file is a Corruption error.
Result<std::vector<MrrSweepRow>> ReadSweepCsv(const std::string& path);
// MRR vs anchors (log x), one line per method, mean +- std shaded.
LinePlot SweepPlot(const std::vector<MrrSweepRow>& rows, const std::string& title);

}  // namespace relgeo
