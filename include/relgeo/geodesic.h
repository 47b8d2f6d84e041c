// Geodesic ground truth (docs/design.md §1, paper Fig. 2): the shortest curve between two
// latents under the pullback of the metric map's output distance, found by
// minimising the discrete energy of a curve with fixed end points
//
//     x_0 = z,  x_N = a,  x_1..x_{N-1} free,
//     E = (N/2) sum_{j=1..N} delta(f(x_{j-1}), f(x_j))^2,   L = sum_j delta(...)
//
// with LibTorch autograd (Adam), starting from the straight line. Many pairs are
// optimised as one batch: their energies are independent sums, so one backward
// pass gives every pair its own gradient.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/metric_map.h"
#include "relgeo/status.h"

namespace relgeo {

struct GeodesicOptions {
  int steps = 8;            // N >= 1 segments (N - 1 free interior nodes)
  int iterations = 150;     // Adam steps per pair
  // Adam learning rate, relative to the distance |a - z| of the pair's end points:
  // the free variables are offsets u_j with x_j = line_j + |a - z| u_j, so one
  // setting suits latents of any scale. Cosine-decayed to lr/20 over the iterations.
  double learning_rate = 0.05;
  // Bound on the bytes of one optimisation chunk (curve nodes, map outputs and the
  // map's activations kept for backward, estimated as 40 floats per output value).
  int64_t memory_budget_bytes = int64_t{1} << 30;
  // Diagnostic: > 1 also evaluates the optimised curve (piecewise linear between its
  // nodes in latent space) and the straight line with every segment split into
  // `refine` parts, i.e. N * refine steps. A discrete optimum that exploits the coarse
  // grid (nodes hopping over regions where f changes fast) shows up as a refined
  // energy well above the optimised one.
  int refine = 1;
  // Called after each chunk of pairs with (pairs done, total pairs).
  std::function<void(int64_t, int64_t)> progress;
};

struct GeodesicResult {
  // One entry per pair (row i of `starts` with row i of `ends`).
  std::vector<double> line_energy, line_length;  // the straight line with N steps
  std::vector<double> energy, length;            // the optimised curve
  // Guarantee: energy[i] <= line_energy[i] and length[i] <= line_length[i]. The
  // returned curve is the iterate of lowest energy among those whose length does not
  // exceed the straight line's (the straight line itself qualifies), so an
  // optimisation that diverges returns the straight line.
  int64_t improved = 0;  // pairs whose energy went strictly down
  // Only with GeodesicOptions::refine > 1: energies at N * refine steps of the straight
  // line and of the returned curve (no guarantee that the latter is lower).
  std::vector<double> refined_line_energy, refined_energy;
};

// Optimises the curves between starts.row(i) and ends.row(i) (both n x d latents of
// the map's input dimension). The map's distance (euclidean, sphere, fisher) is used.
Result<GeodesicResult> SolveGeodesics(const MetricMap& map, MatrixView starts, MatrixView ends,
                                      const GeodesicOptions& options = {});

// Energies and lengths of the straight lines only (no optimisation): forward passes
// without autograd. Same formulas as the relative encoder's `energy` / `length` modes.
Result<GeodesicResult> StraightLines(const MetricMap& map, MatrixView starts, MatrixView ends, int steps,
                                     int64_t memory_budget_bytes = int64_t{256} << 20);

// All unordered pairs i < j of the rows of `points`, in row-major order
// (0,1), (0,2), ..., (1,2), ...; returns the pair indices.
std::vector<std::pair<int64_t, int64_t>> AllPairs(int64_t n);

}  // namespace relgeo

namespace relgeo {

// Paper Fig. 2: two n x n matrices (straight-line and geodesic energies) drawn as
// heatmaps side by side on one colour scale, with titles, written as a PNG.
Status WriteHeatmapPairPng(const std::string& path, MatrixView left, const std::string& left_title, MatrixView right,
                           const std::string& right_title);

}  // namespace relgeo
