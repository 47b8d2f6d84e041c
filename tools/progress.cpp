#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli_common.h"

namespace relgeo::cli {
namespace {

double LogIntervalSeconds() {
  const char* env = std::getenv("RELGEO_PROGRESS_INTERVAL");
  if (!env) return 10.0;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  return end != env && v >= 0 && v < 1e6 ? v : 10.0;
}

// Rates over less than 50 ms are noise; show none rather than a silly number.
double Rate(int64_t done, double secs) { return secs > 0.05 ? done / secs : 0; }

}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(Clock::now()), last_(start_),
      active_(!Globals().quiet), tty_(isatty(fileno(stderr)) != 0), log_interval_s_(LogIntervalSeconds()) {
  if (active_ && !tty_) {
    std::fprintf(stderr, "%s: started, %lld %s\n", label_.c_str(), static_cast<long long>(total_), unit_.c_str());
    std::fflush(stderr);
  }
}

Progress::~Progress() {
  // A bar left mid-line (the task failed) must not run into the error message.
  if (active_ && tty_ && shown_ >= 0) std::fprintf(stderr, "\n");
}

void Progress::Update(int64_t done) {
  if (!active_ || done == shown_) return;
  const auto now = Clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  if (tty_ ? (done < total_ && since_last < 0.2) : since_last < log_interval_s_) return;
  last_ = now;
  shown_ = done;
  const double secs = std::chrono::duration<double>(now - start_).count();
  if (tty_) DrawBar(done, secs);
  else LogLine(done, secs, false);
}

void Progress::Finish() {
  if (!active_) return;
  const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  if (tty_) {
    if (shown_ != total_) DrawBar(total_, secs);
    std::fprintf(stderr, "\n");
  } else {
    LogLine(total_, secs, true);
  }
  std::fflush(stderr);
  active_ = false;
}

void Progress::DrawBar(int64_t done, double secs) {
  const double rate = Rate(done, secs);
  const double eta = rate > 0 ? (total_ - done) / rate : 0;
  const int width = 30;
  const int filled = total_ > 0 ? static_cast<int>(width * static_cast<double>(done) / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %s  %.0f %s/s  ETA %.0fs\033[K", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str(), eta);
  std::fflush(stderr);
  shown_ = done;
}

void Progress::LogLine(int64_t done, double secs, bool final) {
  const double rate = Rate(done, secs);
  if (final) {
    std::fprintf(stderr, "%s: done, %lld %s in %.1fs (%.0f %s/s)\n", label_.c_str(), static_cast<long long>(done),
                 unit_.c_str(), secs, rate, unit_.c_str());
  } else {
    const double pct = total_ > 0 ? 100.0 * done / total_ : 100.0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    std::fprintf(stderr, "%s: %lld/%lld %s (%.0f%%), %.0f %s/s, %.0fs elapsed, ETA %.0fs\n", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), pct, rate, unit_.c_str(),
                 secs, eta);
  }
  std::fflush(stderr);
}

}  // namespace relgeo::cli
