#!/usr/bin/env bash
# CI smoke run of the Fashion-MNIST retrieval pipeline (well under 2 minutes on 2 cores):
# two tiny conv AEs that differ only in seed, then a small MRR sweep with every method.
# Usage: bash tools/eval_smoke.sh [BUILD_DIR]   (default: build)
set -euo pipefail
BUILD=${1:-build}
RELGEO=$BUILD/tools/relgeo
[ -x "$RELGEO" ] || { echo "eval_smoke: $RELGEO not found (build the relgeo_cli target first)" >&2; exit 2; }
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  echo "eval_smoke: SKIP (dataset-fashion-mnist not installed)"; exit 0
fi
OUT=$(mktemp -d /tmp/relgeo_eval_smoke.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$OUT"' EXIT
for s in 1 2; do
  "$RELGEO" -q train-ae --arch conv --latent-dim 32 --seed $s --epochs 1 --train-limit 2000 --eval-limit 400 \
      --out "$OUT/conv$s"
done
"$RELGEO" -q eval mrr --a-map "$OUT/conv1/decoder.pt" --a-latents "$OUT/conv1/z_test.npy" \
    --b-map "$OUT/conv2/decoder.pt" --b-latents "$OUT/conv2/z_test.npy" \
    --a-pool "$OUT/conv1/z_val.npy" --b-pool "$OUT/conv2/z_val.npy" --limit 200 \
    --anchor-counts 5,10,20 --draws 2 --steps 4 --methods relgeo,cosine,linear,orthogonal,absolute \
    --csv "$OUT/mrr.csv" --plot "$OUT/mrr.png" --json > "$OUT/summary.json"
rows=$(($(wc -l < "$OUT/mrr.csv") - 1))
[ "$rows" -eq 30 ] || { echo "eval_smoke: expected 30 CSV rows, got $rows" >&2; exit 1; }
head -c 8 "$OUT/mrr.png" | od -An -c | grep -q 'P   N   G' || { echo "eval_smoke: bad PNG" >&2; exit 1; }
python3 - "$OUT/summary.json" <<'PY' 2>/dev/null || grep -q '"relgeo"' "$OUT/summary.json"
import json, sys
s = {(r["method"], r["anchors"]): r["mrr_mean"] for r in json.load(open(sys.argv[1]))}
assert s[("relgeo", 20)] > 0.5, s  # two 1-epoch AEs on 2000 images still retrieve well above chance
print("eval_smoke: relgeo MRR@20 anchors = %.3f, cosine = %.3f" % (s[("relgeo", 20)], s[("cosine", 20)]))
PY
echo "eval_smoke: OK ($rows CSV rows, PNG written)"
