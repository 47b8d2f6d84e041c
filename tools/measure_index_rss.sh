#!/usr/bin/env bash
# Peak RSS of `relgeo index` on a large synthetic latents file (docs/cli.md "Memory").
# Measured, not asserted: run it by hand, before and after a change to the input path.
#   tools/measure_index_rss.sh RELGEO_BINARY [MB=500] [WORKDIR=/tmp/relgeo-rss]
# Needs python3 with numpy and torch (to write the .npy files and a TorchScript map).
# The map (1024 -> 16 -> 8, K = 4 anchors, 1 step) is deliberately cheap, so that
# reading and storing dominate and the figure is the input path's memory.
set -euo pipefail
relgeo=$(realpath "$1")
mb=${2:-500}
work=${3:-/tmp/relgeo-rss}
python=${PYTHON:-python3}
mkdir -p "$work"
cd "$work"
if [ ! -f z.npy ] || [ "$(cat z.mb 2>/dev/null)" != "$mb" ]; then
  "$python" - "$mb" <<'PY'
import sys, numpy as np, torch
d = 1024
net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
torch.jit.script(net).save('map.pt')
rng = np.random.default_rng(0)
np.save('anchors.npy', rng.standard_normal((4, d), dtype=np.float32))
rows = int(sys.argv[1]) * 1000000 // (4 * d)
z = np.lib.format.open_memmap('z.npy', mode='w+', dtype=np.float32, shape=(rows, d))
for r in range(0, rows, 8192):
    z[r:r + 8192] = rng.standard_normal((min(8192, rows - r), d), dtype=np.float32)
z.flush()
PY
  echo "$mb" > z.mb
fi
rm -rf db
"$relgeo" -q anchors create --db db --name S --count 4
"$relgeo" -q model register --db db --name A --map map.pt --anchor-set S --anchor-latents anchors.npy
"$relgeo" -q collection create --db db --name C --anchor-set S --steps 1
/usr/bin/time -v "$relgeo" index --db db --collection C --model A --latents z.npy --batch "${BATCH:-4096}" 2> time.txt >/dev/null || {
  cat time.txt; exit 1; }
grep -E "^indexed|Maximum resident|Elapsed \(wall" time.txt
echo "input: $(stat -c %s z.npy) bytes"
