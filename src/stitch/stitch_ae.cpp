// Autoencoder stitching (include/relgeo/stitching.h, docs/design.md §2).
#include <algorithm>
#include <cmath>

#include "plot/canvas.h"
#include "relgeo/alignment.h"
#include "relgeo/anchors.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/stitching.h"

namespace relgeo {
namespace {

Matrix Normalized(MatrixView x) {
  Matrix out = Matrix::CopyOf(x);
  for (int64_t i = 0; i < out.rows(); ++i) {
    double s = 0;
    for (int64_t c = 0; c < out.cols(); ++c) s += static_cast<double>(out(i, c)) * out(i, c);
    const float inv = s > 0 ? static_cast<float>(1.0 / std::sqrt(s)) : 0.0f;
    for (int64_t c = 0; c < out.cols(); ++c) out(i, c) *= inv;
  }
  return out;
}

double Mse(MatrixView a, MatrixView b) {
  double s = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a.data()[i]) - b.data()[i];
    s += d * d;
  }
  return a.size() ? s / a.size() : 0.0;
}

Result<Matrix> Decode(const MetricMap& decoder, MatrixView z) {
  Matrix out(z.rows(), decoder.output_dim());
  for (int64_t b = 0; b < z.rows(); b += 1024) {
    const int64_t c = std::min<int64_t>(1024, z.rows() - b);
    RELGEO_ASSIGN_OR_RETURN(Matrix part, decoder.Forward(z.RowSlice(b, c)));
    std::copy(part.data(), part.data() + part.size(), out.row(b));
  }
  return out;
}

Result<Matrix> RelgeoReps(std::shared_ptr<const MetricMap> map, MatrixView z, MatrixView anchors, int steps) {
  EncoderOptions eo;
  eo.steps = steps;
  RELGEO_ASSIGN_OR_RETURN(auto enc, RelativeEncoder::Create(std::move(map), anchors, eo));
  return enc->Encode(z);
}

// D_B(T z_A) with T fitted (least squares) on the pairs (z_A[i], z_B[match[i]]).
Result<Matrix> StitchThrough(const MetricMap& decoder_b, MatrixView za, MatrixView zb, const std::vector<int64_t>& match) {
  Matrix target = GatherRows(zb, match);
  RELGEO_ASSIGN_OR_RETURN(Alignment t, Alignment::Fit(AlignMethod::kLinear, za, target));
  RELGEO_ASSIGN_OR_RETURN(Matrix mapped, t.SourceToTarget(za));
  return Decode(decoder_b, mapped);
}

double MatchAccuracy(const std::vector<int64_t>& match) {
  int64_t ok = 0;
  for (size_t i = 0; i < match.size(); ++i) ok += match[i] == static_cast<int64_t>(i);
  return match.empty() ? 0.0 : static_cast<double>(ok) / match.size();
}

}  // namespace

Result<std::vector<int64_t>> MatchByCosine(MatrixView x1, MatrixView x2) {
  if (x1.cols() != x2.cols())
    return Status::InvalidArgument("matching needs equal widths (" + std::to_string(x1.cols()) + " vs " +
                                   std::to_string(x2.cols()) + ")");
  if (x2.rows() == 0) return Status::InvalidArgument("nothing to match against");
  Matrix a = Normalized(x1), b = Normalized(x2);
  const int64_t k = a.cols();
  std::vector<int64_t> match(static_cast<size_t>(a.rows()), 0);
  for (int64_t i = 0; i < a.rows(); ++i) {
    const float* ai = a.row(i);
    float best = -INFINITY;
    for (int64_t j = 0; j < b.rows(); ++j) {
      const float* bj = b.row(j);
      float s = 0;
      for (int64_t c = 0; c < k; ++c) s += ai[c] * bj[c];
      if (s > best) {
        best = s;
        match[i] = j;
      }
    }
  }
  return match;
}

Result<AeStitchResult> StitchAutoencoders(const AeStitchInputs& in, const AeStitchOptions& o) {
  if (!in.decoder_a || !in.decoder_b) return Status::InvalidArgument("both decoders are required");
  const int64_t n = in.latents_a.rows();
  RELGEO_RETURN_IF_ERROR(CheckLatents(in.latents_a, in.decoder_a->input_dim(), "model A latents"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(in.latents_b, in.decoder_b->input_dim(), "model B latents"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(in.images, 0, "images"));
  if (in.latents_b.rows() != n || in.images.rows() != n)
    return Status::InvalidArgument("latents A, latents B and images must have the same rows (" + std::to_string(n) +
                                   ", " + std::to_string(in.latents_b.rows()) + ", " +
                                   std::to_string(in.images.rows()) + ")");
  if (in.decoder_a->output_dim() != in.images.cols() || in.decoder_b->output_dim() != in.images.cols())
    return Status::InvalidArgument("the decoders output " + std::to_string(in.decoder_a->output_dim()) + " and " +
                                   std::to_string(in.decoder_b->output_dim()) + " values per sample, the images have " +
                                   std::to_string(in.images.cols()));
  if (o.anchors < 1 || o.anchors > n) return Status::InvalidArgument("anchors must be in [1, n]");
  auto stage = [&](const char* s) {
    if (o.on_stage) o.on_stage(s);
  };
  AeStitchResult r;
  RELGEO_ASSIGN_OR_RETURN(r.anchor_rows, SelectAnchors(in.latents_a, o.anchors, AnchorSelection::kUniform, o.seed));
  Matrix anchors_a = GatherRows(in.latents_a, r.anchor_rows), anchors_b = GatherRows(in.latents_b, r.anchor_rows);

  stage("own reconstructions");
  RELGEO_ASSIGN_OR_RETURN(Matrix own_a, Decode(*in.decoder_a, in.latents_a));
  RELGEO_ASSIGN_OR_RETURN(Matrix own_b, Decode(*in.decoder_b, in.latents_b));
  RELGEO_ASSIGN_OR_RETURN(Matrix none, Decode(*in.decoder_b, in.latents_a));
  stage("anchors-only linear map");
  RELGEO_ASSIGN_OR_RETURN(Alignment ta, Alignment::Fit(AlignMethod::kLinear, anchors_a, anchors_b));
  RELGEO_ASSIGN_OR_RETURN(Matrix za_t, ta.SourceToTarget(in.latents_a));
  RELGEO_ASSIGN_OR_RETURN(Matrix lin, Decode(*in.decoder_b, za_t));

  stage("cosine relative representations");
  RELGEO_ASSIGN_OR_RETURN(CosineEncoder ca, CosineEncoder::Create(anchors_a));
  RELGEO_ASSIGN_OR_RETURN(CosineEncoder cb, CosineEncoder::Create(anchors_b));
  RELGEO_ASSIGN_OR_RETURN(Matrix rca, ca.Encode(in.latents_a));
  RELGEO_ASSIGN_OR_RETURN(Matrix rcb, cb.Encode(in.latents_b));
  RELGEO_ASSIGN_OR_RETURN(auto match_cos, MatchByCosine(rca, rcb));
  RELGEO_ASSIGN_OR_RETURN(Matrix cos, StitchThrough(*in.decoder_b, in.latents_a, in.latents_b, match_cos));

  stage("relgeo representations");
  RELGEO_ASSIGN_OR_RETURN(Matrix rga, RelgeoReps(in.decoder_a, in.latents_a, anchors_a, o.steps));
  RELGEO_ASSIGN_OR_RETURN(Matrix rgb, RelgeoReps(in.decoder_b, in.latents_b, anchors_b, o.steps));
  RELGEO_ASSIGN_OR_RETURN(auto match_geo, MatchByCosine(rga, rgb));
  RELGEO_ASSIGN_OR_RETURN(Matrix geo, StitchThrough(*in.decoder_b, in.latents_a, in.latents_b, match_geo));

  r.mse_own_a = Mse(own_a, in.images);
  r.mse_own_b = Mse(own_b, in.images);
  r.mse_none = Mse(none, in.images);
  r.mse_anchors_linear = Mse(lin, in.images);
  r.mse_cosine = Mse(cos, in.images);
  r.mse_relgeo = Mse(geo, in.images);
  r.match_accuracy_cosine = MatchAccuracy(match_cos);
  r.match_accuracy_relgeo = MatchAccuracy(match_geo);

  // Grid rows: the first samples that are not anchors.
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n && static_cast<int64_t>(rows.size()) < o.grid_rows; ++i)
    if (std::find(r.anchor_rows.begin(), r.anchor_rows.end(), i) == r.anchor_rows.end()) rows.push_back(i);
  r.grid_titles = {"original", "A: D_A(z_A)", "B: D_B(z_B)", "none", "anchors", "cosine", "relgeo"};
  for (MatrixView m : {in.images, MatrixView(own_a), MatrixView(own_b), MatrixView(none), MatrixView(lin),
                       MatrixView(cos), MatrixView(geo)})
    r.grid_columns.push_back(GatherRows(m, rows));
  return r;
}

Status WriteStitchGridPng(const std::string& path, const AeStitchResult& r, int64_t height, int64_t width, int scale) {
  if (r.grid_columns.empty() || r.grid_columns[0].rows() == 0) return Status::InvalidArgument("the grid is empty");
  if (height * width != r.grid_columns[0].cols())
    return Status::InvalidArgument("image shape " + std::to_string(height) + "x" + std::to_string(width) +
                                   " does not match " + std::to_string(r.grid_columns[0].cols()) + " values per image");
  scale = std::max(1, scale);
  const int tile = static_cast<int>(std::max(height, width)) * scale, gap = 4, top = 18;
  const int cols = static_cast<int>(r.grid_columns.size()), rows = static_cast<int>(r.grid_columns[0].rows());
  const int colw = std::max(tile, 72);
  plot::Canvas c(cols * (colw + gap) + gap, top + rows * (tile + gap) + gap);
  for (int j = 0; j < cols; ++j) {
    const int x = gap + j * (colw + gap);
    c.Text(x, 4, j < static_cast<int>(r.grid_titles.size()) ? r.grid_titles[j] : "", {0, 0, 0}, 1);
    for (int i = 0; i < rows; ++i)
      c.Gray(x, top + i * (tile + gap), r.grid_columns[j].row(i), static_cast<int>(height), static_cast<int>(width),
             scale);
  }
  return c.WritePng(path);
}

}  // namespace relgeo
