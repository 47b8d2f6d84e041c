#include "cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

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

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_(start_),
      active_(!Globals().quiet) {}

void Progress::Update(int64_t done) {
  if (!active_ || done == shown_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  shown_ = done;
  const double secs = std::chrono::duration<double>(now - start_).count();
  // Rates over less than 50 ms are noise; show none rather than a silly number.
  const double rate = secs > 0.05 ? done / secs : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0;
  const int width = 30;
  const int filled = total_ > 0 ? static_cast<int>(width * static_cast<double>(done) / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  const bool tty = isatty(fileno(stderr));
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %s  %.0f %s/s  ETA %.0fs%s", tty ? "\r" : "", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str(), eta,
               tty ? "\033[K" : "\n");
  std::fflush(stderr);
}

void Progress::Finish() {
  if (!active_) return;
  Update(total_);
  if (isatty(fileno(stderr))) std::fprintf(stderr, "\n");
  active_ = false;
}

}  // namespace relgeo::cli
