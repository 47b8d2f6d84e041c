#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for relgeo and builds it in Release.
# Idempotent: installs only missing packages (quick when all are present), makes
# the project's Python environment .venv/ (pinned torch, numpy, pytest), then runs
# an incremental build against the venv's LibTorch (RELGEO_CMAKE_ARGS=-DRELGEO_TORCH=system
# for Debian's). Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libdnnl-dev libfaiss-dev librocksdb-dev libeigen3-dev zlib1g-dev libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libstb-dev
  dataset-fashion-mnist python3-torch python3-numpy python3-venv fortunes
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "relgeo setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The project's Python environment: .venv/ with the pinned torch (tools/requirements.txt),
# whose LibTorch the default build links. Reinstalled only when the pins change.
VENV=.venv
if ! cmp -s tools/requirements.txt "$VENV/.relgeo-requirements" 2>/dev/null; then
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
  echo "relgeo setup: installing $(grep -v '^#' tools/requirements.txt | tr '\n' ' ')into $VENV/ (a few GB, once)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements.txt
  cp tools/requirements.txt "$VENV/.relgeo-requirements"
fi

BUILD_DIR=${RELGEO_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${RELGEO_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "relgeo setup: built in $BUILD_DIR/ (tool: $BUILD_DIR/tools/relgeo)"
