// bench_encoder's results and their printed forms: the summary table, its JSON
// (--summary_json) and the scaling plots (--scaling_png).
#pragma once

#include <map>
#include <string>

namespace relgeo::bench {

// One benchmark's figures, keyed by a readable configuration name ("mlp relgeo fast").
struct EncoderRow {
  double pairs_per_s = 0, evals_per_s = 0, gflops_map = 0, gflops_exec = 0, peak = 0, seconds = 0;
  std::string note;  // the execution plan, a measurement's details, or the PyTorch reference's JSON
};
using EncoderRows = std::map<std::string, EncoderRow>;

// Prints every row's notes and the table (pairs/s, evals/s, GFLOP/s, % of peak; memory
// rows only as notes) and returns the same rows as a JSON object.
std::string PrintRowTable(const EncoderRows& rows);

// PREFIX_K.png and PREFIX_N.png: the time of one Encode against K (N = 8) and against N
// (K = 256), from the "scaling K=<K> N=<N>" rows, with the line through the origin and
// the largest point for reference.
void WriteScalingPlots(const EncoderRows& rows, const std::string& prefix);

}  // namespace relgeo::bench
