// The active-interval product (src/encoder/active_intervals.h): the sort of a block's
// units by the interval of rows where they are nonzero, and both kernels against the
// dense product in double. The encoder with it is tested in test_fast_paths.cpp
// (SignSplit.EqualsTheDenseProductForEveryShapeDistanceAndMode).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "encoder/active_intervals.h"

namespace relgeo {
namespace {

using internal::GemmIsa;

// A block of `rows` x `in` inputs as a relu leaves them along a line: unit k is
// nonzero on a random interval of rows (or nowhere), with an occasional 0 inside it.
struct Block {
  int rows = 0;
  int64_t in = 0;
  std::vector<float> x;
  std::vector<int> first, last;  // per unit; first = -1 when inactive
};

// With `every_interval`, the active units take the block's rows * (rows + 1) / 2
// intervals in turn instead of random ones.
Block MakeBlock(int rows, int64_t in, uint32_t seed, bool every_interval = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> val(0.1f, 2.0f);
  std::vector<std::pair<int, int>> intervals;
  for (int f = 0; f < rows; ++f)
    for (int l = f; l < rows; ++l) intervals.push_back({f, l});
  Block b{rows, in, std::vector<float>(static_cast<size_t>(rows * in), 0.0f), {}, {}};
  size_t next = 0;
  for (int64_t k = 0; k < in; ++k) {
    int f = -1, l = -1;
    if (rng() % 4 != 0) {  // a quarter of the units stay inactive
      f = static_cast<int>(rng() % rows);
      l = f + static_cast<int>(rng() % (rows - f));
      if (every_interval) std::tie(f, l) = intervals[next++ % intervals.size()];
      for (int r = f; r <= l; ++r) b.x[r * in + k] = val(rng);
      if (l - f >= 2 && rng() % 3 == 0) b.x[(f + 1) * in + k] = 0.0f;  // a 0 inside the interval
    }
    b.first.push_back(f);
    b.last.push_back(l);
  }
  return b;
}

struct Sorted {
  std::vector<int32_t> idx, starts;
  int64_t work = 0;
};

Sorted Sort(const Block& b, GemmIsa isa) {
  Sorted s{std::vector<int32_t>(b.in + internal::kIntervalIdxPad, -7), std::vector<int32_t>(internal::kIntervalStarts)};
  std::vector<uint8_t> masks(b.in);
  s.work = internal::SortByActiveInterval(b.x.data(), b.in, b.rows, b.in, s.idx.data(), s.starts.data(),
                                          masks.data(), isa);
  return s;
}

TEST(ActiveIntervals, SortGroupsUnitsByTheirInterval) {
  for (int rows : {1, 2, 5, 8})
    for (int64_t in : {1, 16, 37, 300}) {
      const Block b = MakeBlock(rows, in, static_cast<uint32_t>(rows * 1000 + in));
      const Sorted s = Sort(b, GemmIsa::kPortable);
      const std::string at = "rows " + std::to_string(rows) + " in " + std::to_string(in);
      ASSERT_EQ(s.starts[0], 0) << at;
      ASSERT_EQ(s.starts[internal::kIntervalStarts - 1], in) << at;
      std::vector<int> seen(in, 0);
      int64_t work = 0;
      for (int c = 0; c <= internal::kIntervalInactive; ++c)
        for (int32_t q = s.starts[c]; q < s.starts[c + 1]; ++q) {
          const int32_t k = s.idx[q];
          ASSERT_TRUE(k >= 0 && k < in) << at;
          ++seen[k];
          if (q > s.starts[c]) EXPECT_LT(s.idx[q - 1], k) << at << ": units increase within a group";
          if (c == internal::kIntervalInactive) {
            EXPECT_EQ(b.first[k], -1) << at << " unit " << k;
          } else {
            EXPECT_EQ(c / 8, b.first[k]) << at << " unit " << k;
            EXPECT_EQ(c % 8, b.last[k]) << at << " unit " << k;
            work += c % 8 - c / 8 + 1;
          }
        }
      for (int64_t k = 0; k < in; ++k) EXPECT_EQ(seen[k], 1) << at << " unit " << k;
      EXPECT_EQ(s.work, work) << at;
      // The padding the kernel prefetches from holds valid units.
      for (int64_t i = 0; i < internal::kIntervalIdxPad; ++i) EXPECT_TRUE(s.idx[in + i] >= 0 && s.idx[in + i] < in);
      // The vectorised masks give the same sort.
      const Sorted v = Sort(b, GemmIsa::kBest);
      EXPECT_EQ(v.idx, s.idx) << at;
      EXPECT_EQ(v.starts, s.starts) << at;
      EXPECT_EQ(v.work, s.work) << at;
    }
}

TEST(ActiveIntervals, NaNCountsAsActive) {
  Block b = MakeBlock(4, 20, 7);
  for (float& v : b.x) v = 0.0f;
  b.x[2 * 20 + 5] = std::numeric_limits<float>::quiet_NaN();
  for (GemmIsa isa : {GemmIsa::kPortable, GemmIsa::kBest}) {
    const Sorted s = Sort(b, isa);
    ASSERT_EQ(s.starts[2 * 8 + 3] - s.starts[2 * 8 + 2], 1);
    EXPECT_EQ(s.idx[s.starts[2 * 8 + 2]], 5);
    EXPECT_EQ(s.work, 1);
  }
}

// Y = X W^T over column panels, every kernel this CPU runs, against double sums; Y is
// pre-filled so that a kernel adding instead of writing, or writing outside its rows
// and columns, fails.
TEST(ActiveIntervals, KernelsMatchTheDenseProduct) {
  std::vector<std::pair<std::string, internal::IntervalGemmFn>> kernels = {
      {"portable", internal::IntervalGemmFor(GemmIsa::kPortable)}};
  if (auto fn = internal::IntervalGemmFor(GemmIsa::kBest)) kernels.push_back({"best", fn});
  if (__builtin_cpu_supports("avx512f")) {
    ASSERT_EQ(kernels.size(), 2u) << "an AVX-512 CPU must get the AVX-512 kernel";
    EXPECT_STREQ(internal::IntervalGemmName(kernels[1].second), "avx512");
  }
  const int64_t in = 160;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (int64_t out : {16, 25, 48, 100, 784}) {
    std::vector<float> W(in * out);
    for (float& w : W) w = normal(rng);
    for (int rows : {1, 2, 7, 8}) {
      const Block b = MakeBlock(rows, in, static_cast<uint32_t>(out * 10 + rows), true);
      const Sorted s = Sort(b, GemmIsa::kBest);
      if (rows == internal::kIntervalBlockRows) {  // every case of the kernels' switch runs
        int groups = 0;
        for (int c = 0; c < internal::kIntervalInactive; ++c) groups += s.starts[c + 1] > s.starts[c];
        ASSERT_EQ(groups, 36) << "out " << out;
      }
      const int64_t ldy = out + 3;
      // Panels as the encoder cuts them (multiples of 48 columns), and the whole width.
      for (int64_t panel : {int64_t{48}, int64_t{96}, out}) {
        for (const auto& [name, fn] : kernels) {
          std::vector<float> Y(static_cast<size_t>((rows + 1) * ldy), 123.0f);
          for (int64_t c0 = 0; c0 < out; c0 += panel)
            fn(b.x.data(), in, rows, s.idx.data(), s.starts.data(), W.data(), out, c0, std::min(out, c0 + panel),
               Y.data(), ldy);
          for (int r = 0; r <= rows; ++r)
            for (int64_t c = 0; c < ldy; ++c) {
              const float got = Y[r * ldy + c];
              if (r == rows || c >= out) {
                ASSERT_EQ(got, 123.0f) << name << " wrote outside its block at " << r << "," << c;
                continue;
              }
              double want = 0;
              for (int64_t k = 0; k < in; ++k) want += double(b.x[r * in + k]) * W[k * out + c];
              ASSERT_NEAR(got, want, 1e-4 * (1 + std::abs(want)))
                  << name << " out " << out << " rows " << rows << " panel " << panel << " at " << r << "," << c;
            }
        }
      }
    }
  }
}

TEST(ActiveIntervals, NaNInputsPropagateLikeTheDenseProduct) {
  const int64_t in = 32, out = 50;
  Block b = MakeBlock(3, in, 11);
  b.x[1 * in + 4] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> W(in * out, 0.5f);
  const Sorted s = Sort(b, GemmIsa::kBest);
  for (GemmIsa isa : {GemmIsa::kPortable, GemmIsa::kBest}) {
    auto fn = internal::IntervalGemmFor(isa);
    if (!fn) continue;
    std::vector<float> Y(3 * out);
    fn(b.x.data(), in, 3, s.idx.data(), s.starts.data(), W.data(), out, 0, out, Y.data(), out);
    for (int64_t c = 0; c < out; ++c) {
      EXPECT_TRUE(std::isnan(Y[1 * out + c])) << c;
      EXPECT_FALSE(std::isnan(Y[0 * out + c])) << c;
    }
  }
}

}  // namespace
}  // namespace relgeo
