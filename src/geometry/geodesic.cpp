// Geodesic solver (see include/relgeo/geodesic.h).
//
// Distances use the same stable forms as the relative encoder: a per-point
// transform (identity, y/|y|, sqrt(softmax(y))) followed by a function of the
// Euclidean chord c between consecutive transformed points:
//   euclidean  delta = c                 (energy uses c^2 directly: smooth at c = 0)
//   sphere     delta = 2 asin(c / 2)
//   fisher     delta = 4 asin(c / 2)
// For the gradient, c = sqrt(max(c^2, 1e-24)) keeps d c / d y bounded at c = 0 and
// asin's argument is clamped below 1, where its derivative is infinite.
#include "relgeo/geodesic.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>

#include "encoder/torch_internal.h"

namespace relgeo {
namespace {

torch::Tensor TransformOutput(const torch::Tensor& y, OutputDistance d) {
  switch (d) {
    case OutputDistance::kEuclidean: return y;
    case OutputDistance::kSphere: return y / y.norm(2, -1, /*keepdim=*/true).clamp_min(1e-30);
    case OutputDistance::kFisher: return torch::exp(0.5 * torch::log_softmax(y, -1));
  }
  return y;
}

// f through the jit module directly (MetricMap::Impl::Forward runs in
// InferenceMode, which would cut the autograd graph). (n x d) -> (n x m) float.
torch::Tensor MapForward(const MetricMap::Impl& m, const torch::Tensor& x) {
  torch::jit::IValue v = m.module.forward({x});
  if (!v.isTensor()) throw std::runtime_error("metric map forward returned " + v.tagKind() + ", expected a tensor");
  torch::Tensor out = v.toTensor().reshape({x.size(0), -1});
  if (out.scalar_type() != torch::kFloat32) out = out.to(torch::kFloat32);
  return out;
}

torch::Tensor Mapped(const MetricMap::Impl& m, const torch::Tensor& x) { return TransformOutput(MapForward(m, x), m.distance); }

// Per-segment delta^2 and delta from the squared chords s (any shape).
void SegmentCosts(const torch::Tensor& s, OutputDistance d, torch::Tensor* delta_sq, torch::Tensor* delta) {
  if (d == OutputDistance::kEuclidean) {
    *delta_sq = s;
    *delta = s.detach().clamp_min(0).sqrt();
    return;
  }
  const double k = d == OutputDistance::kSphere ? 2.0 : 4.0;
  torch::Tensor c = s.clamp_min(1e-24).sqrt();
  torch::Tensor dl = k * torch::asin((0.5 * c).clamp_max(1.0 - 1e-7));
  *delta_sq = dl.square();
  *delta = dl.detach();
}

Status CheckPairs(const MetricMap& map, MatrixView starts, MatrixView ends, int steps) {
  if (steps < 1) return Status::InvalidArgument("steps must be >= 1, got " + std::to_string(steps));
  RELGEO_RETURN_IF_ERROR(CheckLatents(starts, map.input_dim(), "curve start points"));
  RELGEO_RETURN_IF_ERROR(CheckLatents(ends, map.input_dim(), "curve end points"));
  if (starts.rows() != ends.rows())
    return Status::InvalidArgument("start and end point counts differ (" + std::to_string(starts.rows()) + " vs " +
                                   std::to_string(ends.rows()) + ")");
  return Status::OK();
}

void Resize(GeodesicResult* r, int64_t n) {
  r->line_energy.assign(n, 0.0);
  r->line_length.assign(n, 0.0);
  r->energy.assign(n, 0.0);
  r->length.assign(n, 0.0);
}

void CopyOut(const torch::Tensor& t, std::vector<double>* v, int64_t offset) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  std::copy(c.data_ptr<double>(), c.data_ptr<double>() + c.numel(), v->begin() + offset);
}

Status CheckFinite(const GeodesicResult& r) {
  for (size_t i = 0; i < r.line_energy.size(); ++i)
    if (!std::isfinite(r.line_energy[i]) || !std::isfinite(r.line_length[i]))
      return Status::InvalidArgument("the metric map produced a non-finite output on the straight line of pair " +
                                     std::to_string(i));
  return Status::OK();
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> AllPairs(int64_t n) {
  std::vector<std::pair<int64_t, int64_t>> p;
  if (n > 1) p.reserve(static_cast<size_t>(n * (n - 1) / 2));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) p.emplace_back(i, j);
  return p;
}

Result<GeodesicResult> StraightLines(const MetricMap& map, MatrixView starts, MatrixView ends, int steps,
                                     int64_t memory_budget_bytes) {
  RELGEO_RETURN_IF_ERROR(CheckPairs(map, starts, ends, steps));
  const MetricMap::Impl& m = map.impl();
  const int64_t n = starts.rows(), d = starts.cols();
  // Per pair: z, dir, path point (3d) and prev/cur/diff outputs plus activations (~8m).
  const int64_t per_pair = 4 * (3 * d + 8 * std::max<int64_t>(1, map.output_dim()));
  const int64_t chunk = std::max<int64_t>(1, memory_budget_bytes / per_pair);
  GeodesicResult r;
  Resize(&r, n);
  Status st = GuardTorch("straight-line energies", [&] {
    c10::InferenceMode guard;
    torch::Tensor zs = TensorView(starts), as = TensorView(ends);
    for (int64_t p0 = 0; p0 < n; p0 += chunk) {
      const int64_t P = std::min(chunk, n - p0);
      torch::Tensor z = zs.narrow(0, p0, P).to(m.device), a = as.narrow(0, p0, P).to(m.device);
      torch::Tensor dir = a - z;
      torch::Tensor prev = Mapped(m, z), fa = Mapped(m, a);
      torch::Tensor e = torch::zeros({P}, z.options()), l = torch::zeros({P}, z.options());
      for (int j = 1; j <= steps; ++j) {
        torch::Tensor cur = j == steps ? fa : Mapped(m, z + dir * (static_cast<double>(j) / steps));
        torch::Tensor dsq, dl;
        SegmentCosts((cur - prev).square().sum(-1), m.distance, &dsq, &dl);
        e.add_(dsq);
        l.add_(dl);
        prev = cur;
      }
      e.mul_(0.5 * steps);
      CopyOut(e, &r.line_energy, p0);
      CopyOut(l, &r.line_length, p0);
    }
  });
  RELGEO_RETURN_IF_ERROR(st);
  RELGEO_RETURN_IF_ERROR(CheckFinite(r));
  r.energy = r.line_energy;
  r.length = r.line_length;
  return r;
}

Result<GeodesicResult> SolveGeodesics(const MetricMap& map, MatrixView starts, MatrixView ends,
                                      const GeodesicOptions& o) {
  RELGEO_RETURN_IF_ERROR(CheckPairs(map, starts, ends, o.steps));
  if (o.iterations < 0) return Status::InvalidArgument("iterations must be >= 0");
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate))
    return Status::InvalidArgument("learning rate must be positive");
  if (o.memory_budget_bytes <= 0) return Status::InvalidArgument("memory budget must be positive");
  if (o.refine < 1) return Status::InvalidArgument("refine must be >= 1");
  const int N = o.steps;
  if (N == 1 || o.iterations == 0) {  // no free nodes, or nothing to do: the straight line
    auto r = StraightLines(map, starts, ends, N, o.memory_budget_bytes);
    if (r.ok() && o.progress) o.progress(starts.rows(), starts.rows());
    return r;
  }
  const MetricMap::Impl& m = map.impl();
  const int64_t n = starts.rows(), d = starts.cols(), mo = std::max<int64_t>(1, map.output_dim());
  // Per pair: N+1 nodes of outputs with autograd (~40 floats per output value for a
  // conv decoder's saved activations) plus the optimiser state (4 copies of the nodes).
  const int64_t per_pair = 4 * ((N + 1) * 40 * mo + 6 * (N - 1) * d);
  const int64_t chunk = std::max<int64_t>(1, o.memory_budget_bytes / per_pair);
  GeodesicResult r;
  Resize(&r, n);
  if (o.refine > 1) {
    r.refined_line_energy.assign(n, 0.0);
    r.refined_energy.assign(n, 0.0);
  }
  Status st = GuardTorch("geodesic optimisation", [&] {
    torch::AutoGradMode grad_on(true);
    torch::Tensor zs = TensorView(starts), as = TensorView(ends);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int64_t p0 = 0; p0 < n; p0 += chunk) {
      const int64_t P = std::min(chunk, n - p0);
      torch::Tensor z = zs.narrow(0, p0, P).to(m.device), a = as.narrow(0, p0, P).to(m.device);
      torch::Tensor fz, fa;
      {
        torch::NoGradGuard ng;
        fz = Mapped(m, z).unsqueeze(1);
        fa = Mapped(m, a).unsqueeze(1);
      }
      torch::Tensor dir = a - z;
      // Offsets are measured in units of |a - z| / sqrt(d): Adam's first steps move
      // every coordinate by ~lr, i.e. the whole node by ~lr |a - z|.
      torch::Tensor scale = (dir.norm(2, 1, true) / std::sqrt(static_cast<double>(d))).clamp_min(1e-12).unsqueeze(1);
      torch::Tensor t = torch::arange(1, N, z.options()).div_(N).view({1, N - 1, 1});
      torch::Tensor line = z.unsqueeze(1) + t * dir.unsqueeze(1);  // P x (N-1) x d
      torch::Tensor u = torch::zeros({P, N - 1, d}, z.options()).requires_grad_(true);
      torch::Tensor m1 = torch::zeros_like(u), m2 = torch::zeros_like(u);
      torch::Tensor best_u = torch::zeros_like(u);
      torch::Tensor best_e = torch::full({P}, std::numeric_limits<float>::infinity(), z.options());
      torch::Tensor best_l = torch::zeros({P}, z.options()), line_e, line_l;
      for (int it = 0; it <= o.iterations; ++it) {
        torch::Tensor x = line + scale * u;
        torch::Tensor y = Mapped(m, x.reshape({P * (N - 1), d})).view({P, N - 1, -1});
        torch::Tensor Y = torch::cat({fz, y, fa}, 1);
        torch::Tensor s = (Y.narrow(1, 1, N) - Y.narrow(1, 0, N)).square().sum(-1);  // P x N
        torch::Tensor dsq, dl;
        SegmentCosts(s, m.distance, &dsq, &dl);
        torch::Tensor e = dsq.sum(1) * (0.5 * N);
        {
          torch::NoGradGuard ng;
          torch::Tensor ed = e.detach(), l = dl.sum(1);
          if (it == 0) {
            line_e = ed.clone();
            line_l = l.clone();
          }
          // Accept an iterate only if it lowers the energy without lengthening the
          // curve beyond the straight line; non-finite values never compare below.
          torch::Tensor acc = (ed < best_e) & (l <= line_l * (1 + 1e-6) + 1e-12);
          best_e = torch::where(acc, ed, best_e);
          best_l = torch::where(acc, l, best_l);
          best_u = torch::where(acc.view({P, 1, 1}), u.detach(), best_u);
        }
        if (it == o.iterations) break;
        torch::Tensor g = torch::autograd::grad({e.sum()}, {u})[0];
        {
          torch::NoGradGuard ng;
          g = torch::nan_to_num(g, 0.0, 0.0, 0.0);
          const double lr =
              o.learning_rate * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * it / std::max(1, o.iterations))));
          m1.mul_(b1).add_(g, 1 - b1);
          m2.mul_(b2).addcmul_(g, g, 1 - b2);
          const double c1 = 1 - std::pow(b1, it + 1), c2 = 1 - std::pow(b2, it + 1);
          u.sub_(lr / c1 * m1 / ((m2 / c2).sqrt() + eps));
        }
      }
      if (o.refine > 1) {
        torch::NoGradGuard ng;
        const int R = o.refine;
        // Nodes of both curves, P x (N+1) x d; each segment split into R parts.
        torch::Tensor zero = torch::zeros_like(best_u);
        for (int which = 0; which < 2; ++which) {
          torch::Tensor inner = line + scale * (which == 0 ? zero : best_u);
          torch::Tensor nodes = torch::cat({z.unsqueeze(1), inner, a.unsqueeze(1)}, 1);
          torch::Tensor seg = nodes.narrow(1, 1, N) - nodes.narrow(1, 0, N);  // P x N x d
          torch::Tensor e = torch::zeros({P}, z.options());
          torch::Tensor prev = fz.squeeze(1);
          for (int j = 0; j < N; ++j) {
            for (int k = 1; k <= R; ++k) {
              torch::Tensor cur;
              if (j == N - 1 && k == R) {
                cur = fa.squeeze(1);
              } else {
                torch::Tensor pt = nodes.select(1, j) + seg.select(1, j) * (static_cast<double>(k) / R);
                cur = Mapped(m, pt);
              }
              torch::Tensor dsq, dl;
              SegmentCosts((cur - prev).square().sum(-1), m.distance, &dsq, &dl);
              e.add_(dsq);
              prev = cur;
            }
          }
          e.mul_(0.5 * N * R);
          if (which == 0) CopyOut(e, &r.refined_line_energy, p0);
          else CopyOut(e, &r.refined_energy, p0);
        }
      }
      CopyOut(line_e, &r.line_energy, p0);
      CopyOut(line_l, &r.line_length, p0);
      CopyOut(best_e, &r.energy, p0);
      CopyOut(best_l, &r.length, p0);
      if (o.progress) o.progress(p0 + P, n);
    }
  });
  RELGEO_RETURN_IF_ERROR(st);
  RELGEO_RETURN_IF_ERROR(CheckFinite(r));
  for (int64_t i = 0; i < n; ++i) r.improved += r.energy[i] < r.line_energy[i];
  return r;
}

}  // namespace relgeo
