#!/usr/bin/env bash
# CI: builds the libFuzzer targets (fuzz/, clang with ASan + UBSan; build-fuzz/) and
# runs each for a short while over its checked-in seeds (fuzz/corpus/<target>/) and a
# scratch corpus, failing on any crash, sanitizer report or broken check.
# FUZZ_SECONDS (default 20) per target; FUZZ_RUNS=N runs N inputs instead (reproducible
# length). Installs clang and libFuzzer (Debian: clang libclang-rt-14-dev) when missing. The 1M-run
# results and how to run longer are in fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${RELGEO_FUZZ_BUILD_DIR:-build-fuzz}
# clang and its libFuzzer runtime, when missing (a fresh machine has neither).
if ! command -v clang++ > /dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "fuzz_check: installing clang libclang-rt-14-dev"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
CXX_FUZZ=${RELGEO_FUZZ_CXX:-$(command -v clang++ || command -v clang++-14)}
if [ ! -f "$BUILD/build.ninja" ]; then
  launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S fuzz -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX_FUZZ" "${launcher[@]}" > /dev/null
fi
cmake --build "$BUILD" -j "$(nproc)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
limit=(-max_total_time="${FUZZ_SECONDS:-20}")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
for target in npy idx index_spec records index_file torchscript_archive; do
  dict=()
  [ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
  mkdir -p "$scratch/$target"
  # New inputs go to the scratch directory; the seeds stay as checked in.
  if ! "$BUILD/${target}_fuzzer" "${dict[@]}" "${limit[@]}" -artifact_prefix="$scratch/$target-" \
      "$scratch/$target" "fuzz/corpus/$target" > "$scratch/$target.log" 2>&1; then
    tail -40 "$scratch/$target.log"
    for a in "$scratch/$target-"*; do [ -f "$a" ] && { mkdir -p "$BUILD/findings"; cp "$a" "$BUILD/findings/"; }; done
    echo "fuzz_check: ${target}_fuzzer failed (inputs that crashed it, if any, copied to $BUILD/findings/)" >&2
    exit 1
  fi
  echo "fuzz_check: $target: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$scratch/$target.log" | tail -1)"
done
echo "fuzz_check: no finding"
