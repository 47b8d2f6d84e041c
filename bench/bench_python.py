"""What the Python package costs over the C++ calls it wraps, measured in one process:
Encoder.encode vs RelativeEncoder::Encode on the same batch (timed inside C++, no
Python in between), and a one-query Database.search against the time the same call
spent inside Database::Search (timed by the binding).

  PYTHONPATH=build/python .venv/bin/python bench/bench_python.py [--quick]

Prints one JSON document; docs/python.md reports a run. Medians of interleaved
repeats (the machine is shared and noisy; the two sides see the same noise)."""
import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import torch

import relgeo


def mlp(d_in, hidden, d_out, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, d_out),
                               torch.nn.Sigmoid())


def median_pair(py_call, cpp_call, repeats):
    py, cpp = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        py_call()
        py.append(time.perf_counter() - t0)
        cpp.append(cpp_call())
    return statistics.median(py), statistics.median(cpp)


def bench_encode(quick):
    # The benchmark MLP of bench/bench_encoder.cpp: 128 -> 512 -> 784, K = 256, N = 8.
    rng = np.random.default_rng(0)
    anchors = rng.standard_normal((256, 128)).astype(np.float32)
    z = rng.standard_normal((128 if quick else 512, 128)).astype(np.float32)
    enc = relgeo.Encoder(mlp(128, 512, 784, 0), anchors, steps=8)
    enc.encode(z)  # warm-up
    py, cpp = median_pair(lambda: enc.encode(z), lambda: enc._core._time_cpp_encode(z, 1), 3 if quick else 7)
    t0 = time.perf_counter()
    relgeo.encode(mlp(128, 512, 784, 0), anchors, z, steps=8)
    one_shot = time.perf_counter() - t0
    return {"rows": z.shape[0], "anchors": 256, "steps": 8, "python_s": py, "cpp_s": cpp,
            "python_over_cpp": py / cpp, "pairs_per_s": z.shape[0] * 256 / py,
            "relgeo_encode_one_shot_s": one_shot, "plan": enc.execution_plan}


def bench_search(quick):
    # A small map and K = 32 so that encoding the query costs microseconds and the
    # Python layer's own cost is visible; 10,000 Flat items.
    rng = np.random.default_rng(1)
    k_anchors, d, n = 32, 8, 10000
    with tempfile.TemporaryDirectory() as tmp:
        with relgeo.Database(tmp + "/db") as db:
            db.create_anchor_set("a", np.arange(k_anchors))
            db.register_model("m", mlp(d, 16, 16, 1), anchor_set="a",
                              anchor_latents=rng.standard_normal((k_anchors, d)).astype(np.float32))
            db.create_collection("c", anchor_set="a", steps=2)
            db.add_representations("c", "m", np.arange(n), rng.random((n, k_anchors)).astype(np.float32))
            q = rng.standard_normal((1, d)).astype(np.float32)
            for _ in range(50):
                db.search("c", "m", q, k=10)
            # Per call: its wall time and the time it spent inside Database::Search
            # (timed by the binding), so the overhead is measured call by call.
            walls, inner = [], []
            for _ in range(300 if quick else 3000):
                t0 = time.perf_counter()
                db.search("c", "m", q, k=10)
                walls.append(time.perf_counter() - t0)
                inner.append(db._db._last_search_seconds())
    over = [w - i for w, i in zip(walls, inner)]
    return {"items": n, "anchors": k_anchors, "k": 10, "python_us": statistics.median(walls) * 1e6,
            "cpp_us": statistics.median(inner) * 1e6, "overhead_us": statistics.median(over) * 1e6,
            "overhead_p90_us": statistics.quantiles(over, n=10)[-1] * 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = ap.parse_args()
    out = {"threads": relgeo._core.threads(), "encode": bench_encode(args.quick), "search": bench_search(args.quick)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
