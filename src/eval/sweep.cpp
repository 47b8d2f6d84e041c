// The MRR anchor sweep (paper Fig. 3 protocol) and its CSV / plot output.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "relgeo/alignment.h"
#include "relgeo/file_io.h"
#include "relgeo/sweep.h"

namespace relgeo {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Matrix GatherCols(const Matrix& m, const std::vector<int64_t>& cols) {
  Matrix out(m.rows(), static_cast<int64_t>(cols.size()));
  for (int64_t i = 0; i < m.rows(); ++i)
    for (size_t c = 0; c < cols.size(); ++c) out(i, static_cast<int64_t>(c)) = m(i, cols[c]);
  return out;
}

// relgeo representations of all rows against `anchors`, in chunks with progress.
Result<Matrix> EncodeRelgeo(const std::shared_ptr<const MetricMap>& map, const Matrix& anchors, MatrixView z,
                            const EncoderOptions& eo, const MrrSweepOptions& o, const std::string& stage) {
  RELGEO_ASSIGN_OR_RETURN(std::unique_ptr<RelativeEncoder> enc, RelativeEncoder::Create(map, anchors, eo));
  Matrix out(z.rows(), anchors.rows());
  const int64_t chunk = 256;
  for (int64_t r = 0; r < z.rows(); r += chunk) {
    const int64_t c = std::min(chunk, z.rows() - r);
    RELGEO_ASSIGN_OR_RETURN(Matrix part, enc->Encode(z.RowSlice(r, c)));
    std::copy(part.data(), part.data() + part.size(), out.row(r));
    if (o.on_progress) o.on_progress({stage, r + c, z.rows()});
  }
  return out;
}

uint64_t DrawSeed(uint64_t seed, int draw, int64_t k) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(draw) * 0xbf58476d1ce4e5b9ULL +
               static_cast<uint64_t>(k) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

const char* SweepMethodName(SweepMethod m) {
  switch (m) {
    case SweepMethod::kRelgeo: return "relgeo";
    case SweepMethod::kCosine: return "cosine";
    case SweepMethod::kLinear: return "linear";
    case SweepMethod::kOrthogonal: return "orthogonal";
    case SweepMethod::kAbsolute: return "absolute";
  }
  return "unknown";
}

Result<SweepMethod> ParseSweepMethod(const std::string& name) {
  for (SweepMethod m : {SweepMethod::kRelgeo, SweepMethod::kCosine, SweepMethod::kLinear, SweepMethod::kOrthogonal,
                        SweepMethod::kAbsolute})
    if (name == SweepMethodName(m)) return m;
  return Status::InvalidArgument("unknown method '" + name +
                                 "' (expected relgeo, cosine, linear, orthogonal or absolute)");
}

Result<std::vector<SweepMethod>> ParseSweepMethods(const std::string& list) {
  std::vector<SweepMethod> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    RELGEO_ASSIGN_OR_RETURN(SweepMethod m, ParseSweepMethod(item));
    if (std::find(out.begin(), out.end(), m) != out.end())
      return Status::InvalidArgument("method '" + item + "' listed twice");
    out.push_back(m);
  }
  if (out.empty()) return Status::InvalidArgument("no methods given");
  return out;
}

Result<std::vector<MrrSweepRow>> RunMrrSweep(const MrrSweepInputs& in, const MrrSweepOptions& o) {
  RELGEO_RETURN_IF_ERROR(CheckLatents(in.latents_a, 0, "model A latents"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(in.latents_b, 0, "model B latents"));
  if (in.latents_a.rows() != in.latents_b.rows())
    return Status::InvalidArgument("model A and model B latents have different row counts (" +
                                   std::to_string(in.latents_a.rows()) + " vs " + std::to_string(in.latents_b.rows()) +
                                   "); row i must be the same sample in both");
  if (in.latents_a.rows() < 2) return Status::InvalidArgument("need at least 2 evaluated rows");
  const bool has_pool = !in.pool_a.empty() || !in.pool_b.empty();
  MatrixView pool_a = has_pool ? in.pool_a : in.latents_a, pool_b = has_pool ? in.pool_b : in.latents_b;
  if (has_pool) {
    RELGEO_RETURN_IF_ERROR(CheckLatents(pool_a, in.latents_a.cols(), "model A anchor pool"));
    RELGEO_RETURN_IF_ERROR(CheckLatents(pool_b, in.latents_b.cols(), "model B anchor pool"));
    if (pool_a.rows() != pool_b.rows())
      return Status::InvalidArgument("anchor pools differ in rows (" + std::to_string(pool_a.rows()) + " vs " +
                                     std::to_string(pool_b.rows()) + "); rows must correspond");
  }
  if (o.draws < 1) return Status::InvalidArgument("draws must be >= 1");
  if (o.methods.empty()) return Status::InvalidArgument("no methods given");
  std::vector<int64_t> counts = o.anchor_counts;
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  if (counts.empty() || counts.front() < 1) return Status::InvalidArgument("anchor counts must be >= 1");
  if (counts.back() > pool_a.rows())
    return Status::InvalidArgument(std::to_string(counts.back()) + " anchors requested but the pool has only " +
                                   std::to_string(pool_a.rows()) + " rows");
  auto wants = [&](SweepMethod m) { return std::find(o.methods.begin(), o.methods.end(), m) != o.methods.end(); };
  if (wants(SweepMethod::kRelgeo) && (!in.map_a || !in.map_b))
    return Status::InvalidArgument("method relgeo needs both models' metric maps");
  if (wants(SweepMethod::kRelgeo)) {
    if (in.map_a->input_dim() != in.latents_a.cols())
      return Status::InvalidArgument("model A's map takes " + std::to_string(in.map_a->input_dim()) +
                                     "-d latents but its latents have " + std::to_string(in.latents_a.cols()) + " columns");
    if (in.map_b->input_dim() != in.latents_b.cols())
      return Status::InvalidArgument("model B's map takes " + std::to_string(in.map_b->input_dim()) +
                                     "-d latents but its latents have " + std::to_string(in.latents_b.cols()) + " columns");
  }
  if (wants(SweepMethod::kAbsolute) && in.latents_a.cols() != in.latents_b.cols())
    return Status::InvalidArgument("method absolute needs equal latent dimensions (" +
                                   std::to_string(in.latents_a.cols()) + " vs " + std::to_string(in.latents_b.cols()) + ")");

  std::vector<MrrSweepRow> rows;
  // Absolute does not depend on the anchors: measured once, reported for every (K, draw).
  MrrReport absolute;
  if (wants(SweepMethod::kAbsolute)) {
    RELGEO_ASSIGN_OR_RETURN(absolute, MrrAllVariants(in.latents_a, in.latents_b, o.k));
  }
  for (int draw = 0; draw < o.draws; ++draw) {
    // Anchor sets of this draw, one per count, as positions in the pool.
    std::map<int64_t, std::vector<int64_t>> sets;
    if (o.nested && o.selection != AnchorSelection::kKMeans) {
      RELGEO_ASSIGN_OR_RETURN(std::vector<int64_t> base,
                              SelectAnchors(pool_a, counts.back(), o.selection, DrawSeed(o.seed, draw, 0)));
      for (int64_t K : counts) sets[K] = std::vector<int64_t>(base.begin(), base.begin() + K);
    } else {
      for (int64_t K : counts) {
        RELGEO_ASSIGN_OR_RETURN(sets[K], SelectAnchors(pool_a, K, o.selection, DrawSeed(o.seed, draw, K)));
      }
    }
    // The union of this draw's anchors, each encoded once; a set is a list of its columns.
    // relgeo encodes only the union of the sets it is evaluated at.
    auto relgeo_at = [&](int64_t K) { return o.relgeo_max_anchors <= 0 || K <= o.relgeo_max_anchors; };
    std::vector<int64_t> uni;
    std::map<int64_t, int64_t> column;
    for (bool relgeo_sets : {true, false})
      for (const auto& [K, set] : sets)
        if (relgeo_at(K) == relgeo_sets)
          for (int64_t p : set)
            if (column.emplace(p, static_cast<int64_t>(uni.size())).second) uni.push_back(p);
    int64_t relgeo_cols = 0;
    for (const auto& [K, set] : sets)
      if (relgeo_at(K))
        for (int64_t p : set) relgeo_cols = std::max(relgeo_cols, column[p] + 1);
    Matrix anchors_a = GatherRows(pool_a, uni), anchors_b = GatherRows(pool_b, uni);

    Matrix rel_a, rel_b, cos_a, cos_b;
    double rel_seconds = 0, cos_seconds = 0;
    if (wants(SweepMethod::kRelgeo) && relgeo_cols > 0) {
      const double t0 = Now();
      std::string tag = " (draw " + std::to_string(draw + 1) + "/" + std::to_string(o.draws) + ", " +
                        std::to_string(relgeo_cols) + " anchors)";
      std::vector<int64_t> first(uni.begin(), uni.begin() + relgeo_cols);
      RELGEO_ASSIGN_OR_RETURN(rel_a, EncodeRelgeo(in.map_a, GatherRows(pool_a, first), in.latents_a, o.encoder, o,
                                                  "relgeo A" + tag));
      RELGEO_ASSIGN_OR_RETURN(rel_b, EncodeRelgeo(in.map_b, GatherRows(pool_b, first), in.latents_b, o.encoder, o,
                                                  "relgeo B" + tag));
      rel_seconds = Now() - t0;
    }
    if (wants(SweepMethod::kCosine)) {
      const double t0 = Now();
      RELGEO_ASSIGN_OR_RETURN(CosineEncoder ca, CosineEncoder::Create(anchors_a));
      RELGEO_ASSIGN_OR_RETURN(CosineEncoder cb, CosineEncoder::Create(anchors_b));
      RELGEO_ASSIGN_OR_RETURN(cos_a, ca.Encode(in.latents_a));
      RELGEO_ASSIGN_OR_RETURN(cos_b, cb.Encode(in.latents_b));
      cos_seconds = Now() - t0;
    }
    int64_t done = 0;
    for (int64_t K : counts) {
      std::vector<int64_t> cols;
      for (int64_t p : sets[K]) cols.push_back(column[p]);
      const double share = static_cast<double>(K) / static_cast<double>(uni.size());
      const double rel_share = relgeo_cols > 0 ? static_cast<double>(K) / static_cast<double>(relgeo_cols) : 0;
      for (SweepMethod m : o.methods) {
        if (m == SweepMethod::kRelgeo && !relgeo_at(K)) continue;
        MrrSweepRow row;
        row.method = SweepMethodName(m);
        row.anchors = K;
        row.draw = draw;
        const double t0 = Now();
        if (m == SweepMethod::kAbsolute) {
          row.mrr = absolute;
        } else if (m == SweepMethod::kRelgeo || m == SweepMethod::kCosine) {
          const bool rg = m == SweepMethod::kRelgeo;
          RELGEO_ASSIGN_OR_RETURN(row.mrr, MrrAllVariants(GatherCols(rg ? rel_a : cos_a, cols),
                                                          GatherCols(rg ? rel_b : cos_b, cols), o.k));
          row.seconds = rg ? rel_seconds * rel_share : cos_seconds * share;
        } else {
          const AlignMethod am = m == SweepMethod::kLinear ? AlignMethod::kLinear : AlignMethod::kOrthogonal;
          RELGEO_ASSIGN_OR_RETURN(Alignment al, Alignment::Fit(am, GatherRows(pool_a, sets[K]), GatherRows(pool_b, sets[K])));
          RELGEO_ASSIGN_OR_RETURN(Matrix x1, al.SourceToShared(in.latents_a));
          RELGEO_ASSIGN_OR_RETURN(Matrix x2, al.TargetToShared(in.latents_b));
          row.seconds = Now() - t0;
          RELGEO_ASSIGN_OR_RETURN(row.mrr, MrrAllVariants(x1, x2, o.k));
        }
        rows.push_back(row);
      }
      if (o.on_progress)
        o.on_progress({"mrr (draw " + std::to_string(draw + 1) + "/" + std::to_string(o.draws) + ")", ++done,
                       static_cast<int64_t>(counts.size())});
    }
  }
  return rows;
}

std::vector<MrrSummaryRow> SummarizeSweep(const std::vector<MrrSweepRow>& rows) {
  std::vector<std::string> order;
  std::map<std::pair<std::string, int64_t>, std::vector<double>> groups;
  for (const auto& r : rows) {
    if (std::find(order.begin(), order.end(), r.method) == order.end()) order.push_back(r.method);
    groups[{r.method, r.anchors}].push_back(r.mrr.cosine_sym);
  }
  std::vector<MrrSummaryRow> out;
  for (const auto& method : order)
    for (const auto& [key, v] : groups) {
      if (key.first != method) continue;
      MrrSummaryRow s;
      s.method = method;
      s.anchors = key.second;
      s.draws = static_cast<int>(v.size());
      double sum = 0, sq = 0;
      for (double x : v) sum += x;
      s.mean = sum / static_cast<double>(v.size());
      for (double x : v) sq += (x - s.mean) * (x - s.mean);
      s.std = std::sqrt(sq / static_cast<double>(v.size()));
      s.min = *std::min_element(v.begin(), v.end());
      s.max = *std::max_element(v.begin(), v.end());
      out.push_back(s);
    }
  return out;
}

Status WriteSweepCsv(const std::string& path, const std::vector<MrrSweepRow>& rows) {
  std::string csv =
      "method,anchors,draw,mrr,mrr_cosine_asym,mrr_cdist_sym,mrr_cdist_asym,mrr_at_k,mrr_cosine_asym_at_k,"
      "mrr_cdist_sym_at_k,mrr_cdist_asym_at_k,k,seconds\n";
  char buf[512];
  for (const auto& r : rows) {
    const MrrReport& m = r.mrr;
    std::snprintf(buf, sizeof(buf), "%s,%lld,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%lld,%.4f\n",
                  r.method.c_str(), static_cast<long long>(r.anchors), r.draw, m.cosine_sym, m.cosine, m.cdist_sym,
                  m.cdist, m.cosine_sym_at_k, m.cosine_at_k, m.cdist_sym_at_k, m.cdist_at_k,
                  static_cast<long long>(m.k), r.seconds);
    csv += buf;
  }
  return WriteFileAtomically(path, {csv});
}

Result<std::vector<MrrSweepRow>> ReadSweepCsv(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound("cannot open " + path);
  std::string line;
  if (!std::getline(f, line)) return Status::Corruption(path + ": empty CSV");
  auto split = [](const std::string& l) {
    std::vector<std::string> out;
    std::stringstream ss(l);
    std::string c;
    while (std::getline(ss, c, ',')) out.push_back(c);
    return out;
  };
  const std::vector<std::string> header = split(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* req : {"method", "anchors", "draw", "mrr"})
    if (!col.count(req)) return Status::Corruption(path + ": CSV header lacks column '" + req + "'");
  std::vector<MrrSweepRow> rows;
  int64_t lineno = 1;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    const std::vector<std::string> v = split(line);
    if (v.size() != header.size())
      return Status::Corruption(path + ": line " + std::to_string(lineno) + " has " + std::to_string(v.size()) +
                                " fields, the header has " + std::to_string(header.size()));
    auto num = [&](const char* name, double fallback) -> double {
      auto it = col.find(name);
      return it == col.end() ? fallback : std::strtod(v[it->second].c_str(), nullptr);
    };
    MrrSweepRow r;
    r.method = v[col["method"]];
    r.anchors = static_cast<int64_t>(num("anchors", 0));
    r.draw = static_cast<int>(num("draw", 0));
    r.mrr.cosine_sym = num("mrr", 0);
    r.mrr.cosine = num("mrr_cosine_asym", 0);
    r.mrr.cdist_sym = num("mrr_cdist_sym", 0);
    r.mrr.cdist = num("mrr_cdist_asym", 0);
    r.mrr.cosine_sym_at_k = num("mrr_at_k", 0);
    r.mrr.cosine_at_k = num("mrr_cosine_asym_at_k", 0);
    r.mrr.cdist_sym_at_k = num("mrr_cdist_sym_at_k", 0);
    r.mrr.cdist_at_k = num("mrr_cdist_asym_at_k", 0);
    r.mrr.k = static_cast<int64_t>(num("k", 0));
    r.seconds = num("seconds", 0);
    if (r.anchors < 1) return Status::Corruption(path + ": line " + std::to_string(lineno) + ": bad anchor count");
    rows.push_back(r);
  }
  if (rows.empty()) return Status::Corruption(path + ": no data rows");
  return rows;
}

LinePlot SweepPlot(const std::vector<MrrSweepRow>& rows, const std::string& title) {
  LinePlot p;
  p.title = title;
  p.x_label = "anchors";
  p.y_label = "MRR (cosine, symmetric)";
  p.log_x = true;
  p.y_min = 0;
  p.y_max = 1.02;
  std::map<std::string, PlotSeries> by;
  std::vector<std::string> order;
  for (const auto& s : SummarizeSweep(rows)) {
    if (!by.count(s.method)) {
      order.push_back(s.method);
      by[s.method].name = s.method;
    }
    PlotSeries& ps = by[s.method];
    ps.x.push_back(static_cast<double>(s.anchors));
    ps.y.push_back(s.mean);
    ps.band.push_back(s.std);
  }
  for (const auto& name : order) p.series.push_back(by[name]);
  return p;
}

}  // namespace relgeo
