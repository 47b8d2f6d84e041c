// This machine's float32 GEMM peak, measured in the run that reports against it.
#include "gemm_peak.h"

#include "encoder/gemm.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <tuple>

namespace relgeo::bench {
namespace {
using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

double GemmGflops(int64_t M, int64_t K, int64_t N, double min_seconds) {
  c10::InferenceMode guard;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, std::array<torch::Tensor, 3>> cache;
  auto& t = cache[{M, K, N}];
  if (!t[0].defined()) t = {torch::randn({M, K}), torch::randn({K, N}), torch::empty({M, N})};
  at::mm_out(t[2], t[0], t[1]);  // warm
  int64_t reps = 0;
  auto t0 = Clock::now();
  double el = 0;
  do {
    at::mm_out(t[2], t[0], t[1]);
    ++reps;
    el = Seconds(t0, Clock::now());
  } while (el < min_seconds);
  return 2.0 * M * K * N * reps / el / 1e9;
}
// The same GEMM as `threads` concurrent single-threaded oneDNN sgemms on row slices
// (how the encoder's native lanes run their GEMMs); 0 when oneDNN is not loaded.
double GemmGflopsLanes(int64_t M, int64_t K, int64_t N, double min_seconds) {
  const auto sgemm = &internal::OneDnnSgemm;
  c10::InferenceMode guard;
  const int T = std::max(1, at::get_num_threads());
  const int64_t rows = (M + T - 1) / T;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, std::array<torch::Tensor, 3>> cache;
  auto& t = cache[{M, K, N}];
  if (!t[0].defined()) t = {torch::randn({M, K}), torch::randn({K, N}), torch::empty({M, N})};
  auto once = [&] {
    at::parallel_for(0, T, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t r0 = i * rows, r = std::min(rows, M - r0);
        if (r > 0)
          sgemm('N', 'N', r, N, K, 1.0f, t[0].data_ptr<float>() + r0 * K, K, t[1].data_ptr<float>(), N, 0.0f,
                t[2].data_ptr<float>() + r0 * N, N);
      }
    });
  };
  once();
  int64_t reps = 0;
  auto t0 = Clock::now();
  double el = 0;
  do {
    once();
    ++reps;
    el = Seconds(t0, Clock::now());
  } while (el < min_seconds);
  return 2.0 * M * K * N * reps / el / 1e9;
}
// The peak an encoder benchmark is compared with: the better of LibTorch's mm
// (OpenBLAS, its own thread pool) and oneDNN sgemm in OpenMP lanes, same shape.
double Peak() { return std::max(GemmGflops(2048, 512, 784, 0.25), GemmGflopsLanes(2048, 512, 784, 0.25)); }

}  // namespace relgeo::bench
