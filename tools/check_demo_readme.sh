#!/usr/bin/env bash
# Runs `relgeo demo` with its defaults and checks that README.md shows exactly what
# it prints (all but the closing "done in N s" line, a timing). The demo runs in
# BUILD/demo-readme/ so that its trained models are cached for the next run.
# Usage: tools/check_demo_readme.sh [BUILD_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
RUN_DIR="$BUILD/demo-readme"
mkdir -p "$RUN_DIR"
cd "$RUN_DIR"
"$BUILD/tools/relgeo" demo > demo.out
python3 - "$ROOT/README.md" demo.out <<'PY'
import sys
readme = open(sys.argv[1]).read()
printed = open(sys.argv[2]).read()
start = readme.find("```\nCross-model retrieval on Fashion-MNIST")
if start < 0:
    sys.exit("README.md has no demo output block")
block = readme[start + 4:readme.index("```", start + 4)]
strip = lambda text: [l.rstrip() for l in text.strip("\n").split("\n") if not l.strip().startswith("done in")]
want, got = strip(block), strip(printed)
if want != got:
    import difflib
    sys.stdout.writelines(difflib.unified_diff([l + "\n" for l in want], [l + "\n" for l in got], "README.md", "relgeo demo"))
    sys.exit("README.md's demo output differs from what relgeo demo prints")
print("check_demo_readme: README.md shows what relgeo demo prints (%d lines)" % len(got))
PY
