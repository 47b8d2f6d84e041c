#include "cli_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "relgeo/relative_encoder.h"  // kMaxAnchors

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

std::vector<int64_t> ParseAnchorCounts(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 1 || v > kMaxAnchors) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw CommandError{Status::InvalidArgument("--anchor-counts: '" + item + "' is not an anchor count in [1, " + std::to_string(kMaxAnchors) + "]")};
    }
  }
  if (out.empty()) throw CommandError{Status::InvalidArgument("--anchor-counts: no anchor counts given")};
  return out;
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
