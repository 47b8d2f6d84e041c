#!/usr/bin/env bash
# `relgeo demo text` on a CI-sized configuration (docs/text.md): the real corpus and
# the two real pretrained encoders, fewer texts, two anchor counts, one draw. Checks
# the JSON's shape and ranges, that both models retrieve and stitch far above
# chance, and that a Python without the models fails with one clear line.
# Usage: tools/check_demo_text.sh BUILD_DIR PYTHON   (RELGEO_TEXT_PYTHON overrides PYTHON)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
PY="${RELGEO_TEXT_PYTHON:-${2:-$ROOT/.venv/bin/python}}"
RELGEO="$BUILD/tools/relgeo"
WORK="$BUILD/demo-text-ci"

# A Python without sentence-transformers: exit 1 and one error line naming what is missing.
set +e
"$RELGEO" -q demo text --work "$WORK/no-models" --python /usr/bin/python3 --sentences 600 --no-plot \
  > /dev/null 2> "$WORK.err"
rc=$?
set -e
if [ "$rc" -eq 0 ] || [ "$(wc -l < "$WORK.err")" -ne 1 ] || ! grep -q "relgeo: error: .*is not installed" "$WORK.err"; then
  echo "check_demo_text: a Python without the models should fail with one line (exit $rc):"; cat "$WORK.err"; exit 1
fi

"$RELGEO" demo text --work "$WORK" --python "$PY" --sentences 2500 --anchor-counts 10,100 --draws 1 --heads 1 --diet-points 500 --stitch-train 500 \
  --json > "$WORK.json"
python3 - "$WORK.json" <<'PY'
import json
import sys
j = json.load(open(sys.argv[1]))
assert j["models"] == ["all-MiniLM-L6-v2", "all-mpnet-base-v2"], j["models"]
assert j["dims"] == [384, 768], j["dims"]
assert sum(j["sizes"].values()) == 2500 and j["anchors"] == 100, (j["sizes"], j["anchors"])
methods = [r["method"] for r in j["results"]]
assert methods == ["relgeo", "relgeo-l2", "relgeo-fisher", "cosine", "linear", "orthogonal", "raw"], methods
res = {r["method"]: r for r in j["results"]}
chance_mrr = sum(1.0 / r for r in range(1, j["sizes"]["test"] + 1)) / j["sizes"]["test"]
for m, r in res.items():
    if m == "raw":  # 384-d and 768-d: not comparable as they are
        assert r["mrr_sym"] is None and r["stitch_acc"] is None and "differ" in r["note"], r
        continue
    for key in ("mrr_sym", "top1", "stitch_acc", "own_acc"):
        assert 0.0 <= r[key] <= 1.0, (m, key, r[key])
    # Far above chance: random ranking gives MRR ~ H(n)/n, a random class 1/8.
    assert r["mrr_sym"] > 5 * chance_mrr, (m, r["mrr_sym"], chance_mrr)
    assert r["stitch_acc"] > 2.0 / len(j["classes"]), (m, r["stitch_acc"])
    # Each stitching classifier on its own model's test representations: also far above chance.
    assert r["own_acc"] > 2.0 / len(j["classes"]), (m, r["own_acc"])
for name, acc in j["head_test_accuracy"].items():
    assert 2.0 / len(j["classes"]) < acc <= 1.0, (name, acc)
sweep = {(s["method"], s["anchors"]) for s in j["sweep"]}
assert {(m, k) for m in ("relgeo", "cosine", "linear") for k in (10, 100)} <= sweep, sweep
print("check_demo_text: %s vs %s, %d test texts: MRR sym relgeo %.3f, cosine %.3f; stitching relgeo %.3f, cosine %.3f"
      % (j["models"][0], j["models"][1], j["sizes"]["test"], res["relgeo"]["mrr_sym"], res["cosine"]["mrr_sym"],
         res["relgeo"]["stitch_acc"], res["cosine"]["stitch_acc"]))
PY
test -s "$WORK/mrr_vs_anchors.png" && test -s "$WORK/mrr_vs_anchors.csv"
