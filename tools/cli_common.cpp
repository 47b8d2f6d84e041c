#include "cli_common.h"

#include <algorithm>

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

GlobalFlags& Globals() {
  static GlobalFlags g;
  return g;
}

}  // namespace relgeo::cli
