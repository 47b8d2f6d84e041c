#include "cli_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace relgeo::cli {

namespace {
std::vector<std::pair<int, Registrar>>& Registry() {
  static std::vector<std::pair<int, Registrar>> r;
  return r;
}
}  // namespace

bool RegisterCommand(int order, Registrar r) {
  Registry().emplace_back(order, r);
  return true;
}

void AddRegisteredCommands(CLI::App& app) {
  auto r = Registry();
  std::stable_sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& e : r) e.second(app);
}

int64_t MemoryBudgetBytes(const std::string& flag, double mb) {
  if (std::isfinite(mb) && mb > 0 && mb <= kMaxMemoryMb) return std::max<int64_t>(1, static_cast<int64_t>(mb * (1 << 20)));
  char got[64];
  std::snprintf(got, sizeof got, "%g", mb);
  throw CommandError{Status::InvalidArgument(flag + " must be a number of MiB in (0, " +
                                             std::to_string(static_cast<int64_t>(kMaxMemoryMb)) + "], got " + got)};
}

GlobalFlags& Globals() {
  static GlobalFlags g;
  return g;
}

}  // namespace relgeo::cli
