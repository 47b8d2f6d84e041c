#!/usr/bin/env bash
# Installs relgeo from BUILD_DIR into a temporary prefix and builds a downstream
# project against it with find_package(relgeo) + relgeo::relgeo.
# Usage: tests/install_consumer.sh BUILD_DIR
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/relgeo_consumer.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
cmake -S "$src/consumer" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build"
test -x "$tmp/build/consumer"
# The installed public headers must not pull in a backend header (pimpl).
if grep -rlE '#include *[<"](torch/|ATen/|c10/|faiss/|rocksdb/)' "$tmp/prefix/include/relgeo"; then
  echo "installed headers include a backend header" >&2
  exit 1
fi
echo "install_consumer: find_package(relgeo) consumer built"
