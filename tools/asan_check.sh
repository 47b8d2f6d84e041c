#!/usr/bin/env bash
# Builds the test suites with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/) and runs them: every heap overflow, use-after-free, leak of the
# library's own allocations or undefined behaviour is a failure. The CLI suite is
# left out (it runs the relgeo tool in child processes, built without sanitizers).
# Needs the packages tools/setup.sh installs; .ci/run runs it after setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${RELGEO_ASAN_BUILD_DIR:-build-asan}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRELGEO_ASAN=ON -DRELGEO_BUILD_BENCH=OFF -DRELGEO_TORCH=system \
    -DRELGEO_BUILD_TOOLS=OFF > /dev/null
fi
SUITES=(util encoder database eval geometry)
cmake --build "$BUILD" --target $(printf 'relgeo_%s_tests ' "${SUITES[@]}") -j "$(nproc)"
# detect_leaks=0: LibTorch and FAISS keep process-lifetime singletons that LSan
# reports as leaks; relgeo's own objects are owned by RAII types.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export RELGEO_CRASH_TRIALS=3  # the SIGKILL crash test: a few trials suffice under ASan
for s in "${SUITES[@]}"; do
  echo "asan_check: $s"
  OMP_NUM_THREADS=2 "$BUILD/tests/relgeo_${s}_tests" --gtest_brief=1
done
echo "asan_check: no AddressSanitizer or UndefinedBehaviorSanitizer report"
