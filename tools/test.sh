#!/usr/bin/env bash
# Sets everything up (tools/setup.sh) and runs every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
ctest --test-dir "${RELGEO_BUILD_DIR:-build}" --output-on-failure -j 2
