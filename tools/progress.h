// Progress reporting of long commands on stderr. On a terminal: a live one-line
// bar with rate and ETA, redrawn at most every 200 ms. Elsewhere (CI logs,
// `2> file`, notebooks): a line when the task starts, at most one every
// RELGEO_PROGRESS_INTERVAL seconds (default 10) while it runs, and one at the end
// with the rate and the elapsed time. Nothing with --quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace relgeo::cli {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "items");
  ~Progress();
  void Update(int64_t done);
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  void DrawBar(int64_t done, double secs);
  void LogLine(int64_t done, double secs, bool final);

  std::string label_, unit_;
  int64_t total_;
  int64_t shown_ = -1;  // the count last printed (never print the same line twice)
  Clock::time_point start_, last_;
  bool active_;
  bool tty_;
  double log_interval_s_;
};

}  // namespace relgeo::cli
