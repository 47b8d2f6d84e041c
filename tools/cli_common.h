// Shared plumbing of the relgeo command-line tool: error reporting with exit
// codes, global flags, command registration; progress reporting (progress.h).
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "progress.h"
#include "relgeo/status.h"

namespace relgeo::cli {

// Exit codes: 0 success, 1 the operation failed (message says why),
// 2 bad command-line usage, 3 a named thing was not found, 4 data is corrupt.
inline int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kCorruption: return 4;
    case StatusCode::kInvalidArgument: return 2;
    default: return 1;
  }
}

// Thrown by commands, caught once in main: prints "relgeo: error: ..." and exits.
struct CommandError {
  Status status;
};

// Unwraps a Result or aborts the command with its Status.
template <typename T>
T OrDie(Result<T> r, const std::string& context = "") {
  if (!r.ok()) throw CommandError{context.empty() ? r.status() : r.status().WithContext(context)};
  return std::move(r).value();
}
inline void OrDie(const Status& s, const std::string& context = "") {
  if (!s.ok()) throw CommandError{context.empty() ? s : s.WithContext(context)};
}

// Usage errors (exit 2) that name the flag the user gave, checked before anything
// is allocated: "--ef must be in [1, 100000] (HNSW efSearch), got 0".
template <typename T>
void CheckFlag(const std::string& flag, T value, T lo, T hi, const std::string& meaning = "") {
  if (value >= lo && value <= hi) return;
  throw CommandError{Status::InvalidArgument(flag + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                             "]" + (meaning.empty() ? "" : " (" + meaning + ")") + ", got " +
                                             std::to_string(value))};
}

// The largest --memory-mb (1 TiB), and the byte count of a --memory-mb value: a finite
// number of MiB in (0, kMaxMemoryMb], or a usage error naming `flag`.
inline constexpr double kMaxMemoryMb = 1 << 20;
int64_t MemoryBudgetBytes(const std::string& flag, double mb);

// Bounds of the tool's own numeric flags, the sizes of training and evaluation work
// that the library takes as given (docs/cli.md "Limits"); checked, like the library's
// constants, before any file is read.
inline constexpr int64_t kMaxTrainBatch = 65536;       // --batch of train-ae, heads train, stitch classify
inline constexpr int64_t kMaxEpochs = 100000;          // --epochs
inline constexpr int64_t kMaxIterations = 1000000;     // eval geodesic --iterations
inline constexpr int64_t kMaxRefine = 64;              // eval geodesic --refine (path points x R)
inline constexpr int64_t kMaxGeodesicRows = 4096;      // eval geodesic --limit, --sweep-count, --per-class: n(n-1)/2 curves, n x n energies
inline constexpr int64_t kMaxDraws = 10000;            // eval mrr --draws
inline constexpr int64_t kMaxHidden = 65536;           // heads train --hidden
inline constexpr int64_t kMaxDietPoints = 1000000;     // heads train --points (one class each)
inline constexpr int64_t kMaxHeads = 1000;             // stitch classify --heads
inline constexpr int64_t kMaxGridRows = 1000;          // stitch ae --grid-rows
inline constexpr int64_t kMaxRowLimit = std::numeric_limits<int64_t>::max();  // --limit style flags: >= 0 (0 = all)

// "10,25,50" -> {10, 25, 50}: anchor counts in [1, kMaxAnchors] (the --anchor-counts
// flags); anything else is a usage error naming --anchor-counts.
std::vector<int64_t> ParseAnchorCounts(const std::string& comma_list);

// Global flags every command sees.
struct GlobalFlags {
  bool quiet = false;
  int threads = 0;  // 0: all cores; at most kMaxThreads (relgeo/threads.h)
};
GlobalFlags& Globals();

// Each cmd_*.cpp registers its subcommands at static-initialisation time:
//   static const bool registered = RegisterCommand(1, [](CLI::App& app) { ... });
// `order` fixes where they appear in --help.
using Registrar = void (*)(CLI::App&);
bool RegisterCommand(int order, Registrar r);
void AddRegisteredCommands(CLI::App& app);

}  // namespace relgeo::cli
