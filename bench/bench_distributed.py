"""relgeo.distributed.bulk_add on a Dask LocalCluster: 2 workers x 1 thread against
1 worker x 1 thread on the same data (speedup), and the share of the job spent
outside encoding (shipping, SST writing, checking and ingesting, index add).

  PYTHONPATH=build/python .venv/bin/python bench/bench_distributed.py [--items 3000] [--repeat 3] [--quick]

The map is the MLP decoder of bench/bench_encoder.cpp (128 -> 512 -> 784, sigmoid),
300 anchors, N = 8 steps: the paper-scale per-item cost. Workers are started and
have imported relgeo before the clock starts (a running cluster). The two
configurations run alternately, --repeat times, so that a slow spell of a shared
machine hits both; the speedup reported is the median of the paired ratios. Prints
one JSON document (and the machine's load average); docs/distributed.md reports a run."""
import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

import relgeo
import relgeo.distributed as rd


def mlp(d_in, hidden, d_out, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, d_out),
                               torch.nn.Sigmoid())


def _warm():
    import relgeo.distributed  # noqa: F401 - the import (torch, relgeo) is worker start-up, not job time
    return os.getpid()


def run(workers, ids, z, anchors, chunk, tmp, tag):
    import dask.array as da
    import distributed
    path = os.path.join(tmp, f"db{workers}-{tag}")
    with relgeo.Database(path) as db:
        db.create_anchor_set("a", np.arange(anchors.shape[0]))
        db.register_model("mlp", mlp(128, 512, 784, 0), anchor_set="a", anchor_latents=anchors)
        db.create_collection("c", anchor_set="a", steps=8)
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            client.run(_warm)
            stats = rd.bulk_add(client, db, "c", "mlp", da.from_array(ids, chunks=chunk),
                                da.from_array(z, chunks=(chunk, -1)), threads=1)
        assert db.count("c") == len(ids)
        first = db.get("c", int(ids[0])).representation
    wall = stats["wall_seconds"]
    driver = stats["read_seconds"] + stats["ingest_seconds"] + stats["index_seconds"]
    # Encoding's share of the job: the summed task encode time spread over the workers.
    outside = 1.0 - stats["encode_seconds"] / workers / wall
    return {"workers": workers, "wall_s": wall, "encode_s_sum": stats["encode_seconds"],
            "encode_cpu_s_sum": stats["encode_cpu_seconds"], "sst_bytes_per_item": stats["file_bytes"] / len(ids),
            "encode_cpu_ms_per_item": 1000 * stats["encode_cpu_seconds"] / len(ids),
            "sst_write_s_sum": stats["write_seconds"], "driver_read_check_s": stats["read_seconds"],
            "driver_ingest_s": stats["ingest_seconds"], "driver_index_s": stats["index_seconds"],
            "driver_total_s": driver, "share_outside_encoding": outside,
            "items_per_s": len(ids) / wall}, first


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--chunk", type=int, default=0,
                   help="rows per partition (default items/24: 12 tasks per worker, a short tail)")
    p.add_argument("--repeat", type=int, default=3, help="alternating (1 x 1, 2 x 1) pairs")
    p.add_argument("--quick", action="store_true", help="120 items (a smoke run, not a measurement)")
    a = p.parse_args()
    n = 120 if a.quick else a.items
    chunk = a.chunk or max(1, n // 24)
    repeat = 1 if a.quick else max(1, a.repeat)
    rng = np.random.default_rng(0)
    anchors = rng.standard_normal((300, 128)).astype(np.float32)
    z = rng.standard_normal((n, 128)).astype(np.float32)
    ids = rng.permutation(n).astype(np.int64)
    load_before = os.getloadavg()
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):
            one, r1 = run(1, ids, z, anchors, chunk, tmp, r)
            two, r2 = run(2, ids, z, anchors, chunk, tmp, r)
            assert np.array_equal(r1, r2)
            pairs.append({"one_worker": one, "two_workers": two, "speedup": one["wall_s"] / two["wall_s"]})
    print(json.dumps({"items": n, "anchors": 300, "steps": 8, "map": "MLP 128-512-784", "partitions": -(-n // chunk),
                      "runs": pairs, "speedups": [p["speedup"] for p in pairs],
                      "speedup_2x1_vs_1x1_median": float(np.median([p["speedup"] for p in pairs])),
                      "share_outside_encoding_2x1_median":
                          float(np.median([p["two_workers"]["share_outside_encoding"] for p in pairs])),
                      "load_average_before": load_before, "load_average_after": os.getloadavg(),
                      "cores": os.cpu_count()}, indent=1))


if __name__ == "__main__":
    main()
