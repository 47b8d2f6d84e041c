#!/usr/bin/env bash
# Builds the database and encoder tests with ThreadSanitizer (build-tsan/) and runs
# the concurrency tests under it: readers searching (and encoding through LibTorch)
# while one writer adds and removes, upserts, every index kind; threads sharing one
# encoder. OpenMP is pinned to one thread because libgomp's barriers are invisible
# to TSan (false positives inside FAISS's OpenMP regions); see docs/design.md §6.4.
# tools/tsan.supp drops reports with a frame inside Debian's uninstrumented
# librocksdb (its atomics are invisible to TSan). Needs the packages
# tools/setup.sh installs; .ci/run runs it after setup.sh and before the README's
# test command.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${RELGEO_TSAN_BUILD_DIR:-build-tsan}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DRELGEO_TORCH=system -DRELGEO_TSAN=ON -DRELGEO_BUILD_BENCH=OFF -DRELGEO_BUILD_TOOLS=OFF > /dev/null
fi
cmake --build "$BUILD" --target relgeo_database_tests relgeo_encoder_tests -j "$(nproc)"
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$PWD/tools/tsan.supp"
OMP_NUM_THREADS=1 "$BUILD/tests/relgeo_database_tests" \
  --gtest_filter='*Concurrent*:*Upsert*:*CrossModelOnEvery*'
# Several threads sharing one encoder (native lanes, relu sign split, conv plan).
OMP_NUM_THREADS=1 "$BUILD/tests/relgeo_encoder_tests" \
  --gtest_filter='*Concurrent*'
echo "tsan_check: no ThreadSanitizer report"
