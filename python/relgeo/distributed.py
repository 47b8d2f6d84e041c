"""relgeo.distributed: bulk indexing and evaluation on a Dask cluster (docs/distributed.md).

Workers produce files, one driver commits them, the way vector databases bulk-load:
``bulk_add`` ships the model's map, anchors and options to the workers once; each
task encodes one partition and writes a sorted RocksDB table file (SST) of relgeo's
item records; the driver checks every file and ingests them all in ONE atomic RocksDB
``IngestExternalFile`` call with the collection's new state, then updates the index.
A task that fails (or whose worker dies) is re-run by Dask and rewrites its own file
(written to a temporary, then renamed); a job interrupted in the driver can simply be
run again: the ingest happened entirely or not at all, and a re-run upserts the same
items.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from .errors import InvalidArgumentError

__all__ = ["bulk_add", "encode", "mrr", "mrr_sweep"]

# Per worker process: Encoders built from shipped specs, keyed by the spec's digest
# (building one loads the map and computes f(anchors); every partition reuses it).
_encoders: Dict[str, Any] = {}


def _encoder(spec: dict):
    enc = _encoders.get(spec["key"])
    if enc is None:
        from .encoding import Encoder
        enc = Encoder(spec["map_bytes"], spec["anchors"], steps=spec["steps"], mode=spec["mode"],
                      distance=spec["distance"])
        _encoders.clear()  # one job's encoder at a time: maps can be large
        _encoders[spec["key"]] = enc
    return enc


def _spec_key(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:24]


def _encode_partition(spec: dict, index: int, ids: Any, latents: Any, work_dir: str, threads: int,
                      fail_once: Optional[str] = None) -> Optional[Tuple[str, int, float, float, float]]:
    """Worker task: encode one partition and write its item file. Returns (path, rows,
    encode seconds, write seconds, encode CPU seconds of this process), or None for an
    empty partition."""
    if fail_once is not None:
        _fail_once(fail_once, index)
    ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    z = np.ascontiguousarray(np.asarray(latents, dtype=np.float32))
    if z.ndim != 2 or z.shape[0] != ids.shape[0]:
        raise InvalidArgumentError(f"partition {index}: {ids.shape[0]} ids for latents of shape {z.shape}")
    if ids.shape[0] == 0:
        return None
    t0, c0 = time.perf_counter(), time.process_time()
    reps = _encoder(spec).encode(z, threads=threads)
    t1, c1 = time.perf_counter(), time.process_time()
    # Deterministic per (job, partition): a retried task overwrites its own file.
    path = os.path.join(work_dir, f"relgeo-{spec['key']}-part-{index:06d}.sst")
    _core.write_item_file(spec["ticket"], path, ids, reps)
    return path, int(ids.shape[0]), t1 - t0, time.perf_counter() - t1, c1 - c0


def _fail_once(marker_dir: str, index: int) -> None:
    """Test hook: the first attempt of partition 0 kills its own worker process, as a
    machine failure would (a marker file makes the retry go through)."""
    marker = os.path.join(marker_dir, "killed-once")
    if index == 0 and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)


def _as_dask(ids: Any, latents: Any):
    """ids (n) and latents (n x d) as Dask arrays with the same row chunks and one
    column chunk. Lists of NumPy chunks become one block each, kept in the graph (not
    scattered), so that a block lost with its worker is simply rebuilt elsewhere."""
    import dask.array as da
    if not isinstance(latents, da.Array) and not isinstance(ids, da.Array):
        ids, latents = list(ids), list(latents)
        if len(ids) != len(latents) or not ids:
            raise InvalidArgumentError(f"{len(ids)} id chunks for {len(latents)} latent chunks")
        ids = da.concatenate([da.from_array(np.asarray(c, dtype=np.int64).reshape(-1), chunks=-1) for c in ids])
        latents = da.concatenate([da.from_array(np.asarray(c, dtype=np.float32), chunks=-1) for c in latents])
    ids, latents = da.asarray(ids), da.asarray(latents)
    if latents.ndim != 2 or ids.ndim != 1 or ids.shape[0] != latents.shape[0]:
        raise InvalidArgumentError(f"ids {ids.shape} and latents {latents.shape} do not pair up (n and n x d)")
    latents = latents.rechunk({1: -1})
    return ids.rechunk((latents.chunks[0],)), latents


def _partitions(ids: Any, latents: Any, client: Any) -> List[Tuple[Any, Any]]:
    """(ids, latents) futures per partition, computed on the cluster."""
    ids, latents = _as_dask(ids, latents)
    lat_blocks = client.compute(list(latents.to_delayed().ravel()))
    id_blocks = client.compute(list(ids.to_delayed().ravel()))
    return list(zip(id_blocks, lat_blocks))


def _identity(x: Any) -> Any:
    return x


def _shipped(client: Any, value: Any, key: str) -> Any:
    """`value` on the cluster as a task's result, not scattered data: the scheduler keeps
    the task, so a copy lost with a dead worker is made again (scattered data would be
    gone for good, and every task needing it cancelled). Fetched once per worker."""
    return client.submit(_identity, value, key=key, pure=False)


def bulk_add(client: Any, db: Any, collection: str, model: str, ids: Any, latents: Any, *,
             work_dir: Optional[str] = None, threads: int = 1, retries: int = 2, keep_files: bool = False,
             _fail_once: Optional[str] = None) -> dict:
    """Encodes and indexes ``latents`` (n x d) under ``ids`` (n) into ``collection`` of
    the open :class:`relgeo.Database` ``db`` with ``model``, on the Dask ``client``'s
    workers. ``ids`` and ``latents``: Dask arrays (partitioned along their row chunks)
    or equal-length lists of NumPy chunks. ``work_dir``: a directory every worker and
    the driver can reach (default: ``<db>.ingest`` beside the database); files of the
    job are deleted after the ingest unless ``keep_files``. ``threads``: relgeo's
    threads per task (one per Dask worker thread). ``retries``: Dask retries of a task
    that raised (a task whose worker died is rescheduled by Dask on its own).

    Returns timings and counts: ``items``, ``replaced``, ``files``, ``encode_seconds``
    and ``write_seconds`` (summed over tasks), ``read_seconds``, ``ingest_seconds``,
    ``index_seconds`` (driver), ``file_bytes`` (the item files) and ``wall_seconds``;
    ``encode_cpu_seconds``: the
    workers' CPU time while encoding (what a busy machine does not inflate)."""
    start = time.perf_counter()
    raw = db._db if hasattr(db, "_db") else db
    t = _core.prepare_ingest(raw, collection, model)
    spec = dict(t)
    spec["key"] = _spec_key(t["ticket"], t["map_bytes"], np.ascontiguousarray(t["anchors"]).tobytes())
    work_dir = os.fspath(work_dir) if work_dir is not None else os.fspath(raw.path).rstrip("/") + ".ingest"
    os.makedirs(work_dir, exist_ok=True)
    parts = _partitions(ids, latents, client)
    job = uuid.uuid4().hex[:8]  # task keys are this call's; file names are the job's (a re-run's too)
    spec_future = _shipped(client, spec, f"relgeo-spec-{spec['key']}-{job}")
    futures = [client.submit(_encode_partition, spec_future, i, pid, plat, work_dir, int(threads), _fail_once,
                             key=f"relgeo-bulk-{spec['key']}-{i}-{job}", retries=int(retries), pure=False)
               for i, (pid, plat) in enumerate(parts)]
    results = [r for r in client.gather(futures) if r is not None]
    shipped = time.perf_counter()
    out = {"items": 0, "replaced": 0, "files": len(results), "encode_seconds": sum(r[2] for r in results),
           "write_seconds": sum(r[3] for r in results), "encode_cpu_seconds": sum(r[4] for r in results), "read_seconds": 0.0, "ingest_seconds": 0.0,
           "index_seconds": 0.0, "index_not_saved": "", "file_bytes": 0}
    if results:
        paths = [r[0] for r in results]
        out["file_bytes"] = sum(os.path.getsize(p) for p in paths)
        stats = _core.ingest_item_files(raw, collection, model, t["ticket"], paths)
        out.update(stats)
        if not keep_files:
            for p in paths:
                try:
                    os.remove(p)
                except OSError:
                    pass
    out["tasks_seconds"] = shipped - start
    out["wall_seconds"] = time.perf_counter() - start
    return out


def _encode_block(spec: dict, block: Any, threads: int):
    return _encoder(spec).encode(np.ascontiguousarray(np.asarray(block, dtype=np.float32)), threads=threads)


def encode(client: Any, map: Any, anchors: Any, latents: Any, *, steps: int = 8, mode: str = "length",
           distance: str = "euclidean", threads: int = 1):
    """n x d latents (a Dask array or NumPy array) -> a lazy Dask array of n x K
    representations, computed on the cluster block by block (``relgeo.encode``'s
    arguments; the map must be a path or something ``relgeo.encode`` accepts). The
    map and anchors travel once per worker."""
    import dask
    import dask.array as da
    from ._convert import as_matrix, map_source

    a, _ = as_matrix(anchors, "anchors")
    source, is_path = map_source(map, a.shape[1])
    if is_path:
        with open(source, "rb") as f:
            source = f.read()
    spec = {"map_bytes": source, "anchors": np.ascontiguousarray(a), "steps": int(steps), "mode": mode,
            "distance": distance}
    spec["key"] = _spec_key(source, spec["anchors"].tobytes(), f"{steps}/{mode}/{distance}".encode())
    z = da.asarray(latents)
    if z.ndim != 2 or z.shape[1] != a.shape[1]:
        raise InvalidArgumentError(f"latents of shape {z.shape} for anchors of shape {a.shape}")
    z = z.rechunk({1: -1})
    spec_d = dask.delayed(_identity, pure=True)(spec, dask_key_name=f"relgeo-spec-{spec['key']}")
    K = a.shape[0]
    blocks = [da.from_delayed(dask.delayed(_encode_block, pure=True)(spec_d, b, int(threads)),
                              shape=(rows, K), dtype=np.float32)
              for b, rows in zip(z.to_delayed().ravel(), z.chunks[0])]
    return da.concatenate(blocks, axis=0)


def _rank_block(x1: np.ndarray, x2: np.ndarray, r0: int, r1: int, symmetric: bool) -> np.ndarray:
    """Ranks of the true partners of rows [r0, r1) (row i of x1 <-> row i of x2), as
    relgeo.eval.retrieval_ranks counts them: 1 + the candidates j != i scoring >= it."""
    s = x1[r0:r1] @ x2.T
    if symmetric:
        s = 0.5 * (s + x2[r0:r1] @ x1.T)
    rows = np.arange(r1 - r0)
    self_score = s[rows, r0 + rows]
    s[rows, r0 + rows] = -np.inf
    return 1 + (s >= self_score[:, None]).sum(axis=1)


def mrr(client: Any, x1: Any, x2: Any, *, symmetric: bool = True, k: int = 0, block_rows: int = 2048) -> float:
    """Cosine MRR of x1 (n x D) against x2 (n x D), row i matching row i, as
    ``relgeo.eval.mrr`` defines it, with the n x n similarities computed in row blocks
    on the cluster (x1 and x2 travel once per worker; each task ranks ``block_rows``
    queries). ``k`` > 0: reciprocal ranks beyond k count 0."""
    a = np.asarray(x1, dtype=np.float32)
    b = np.asarray(x2, dtype=np.float32)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] == 0:
        raise InvalidArgumentError(f"x1 {a.shape} and x2 {b.shape} must be the same non-empty n x D shape")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    job = uuid.uuid4().hex[:8]
    fa, fb = _shipped(client, a, f"relgeo-mrr-x1-{job}"), _shipped(client, b, f"relgeo-mrr-x2-{job}")
    n = a.shape[0]
    futures = [client.submit(_rank_block, fa, fb, r0, min(n, r0 + block_rows), bool(symmetric), pure=False)
               for r0 in range(0, n, int(block_rows))]
    ranks = np.concatenate(client.gather(futures)).astype(np.float64)
    rr = 1.0 / ranks
    if k > 0:
        rr[ranks > k] = 0.0
    return float(rr.mean())


def _mrr_task(x1: Any, x2: Any, kwargs: dict) -> float:
    from .eval import mrr as local_mrr
    return local_mrr(x1, x2, **kwargs)


def mrr_sweep(client: Any, pairs: Dict[Any, Tuple[Any, Any]], **kwargs: Any) -> Dict[Any, float]:
    """``relgeo.eval.mrr`` of many (x1, x2) pairs (a sweep over models, anchor counts,
    steps...), one task per pair; returns {name: MRR}."""
    names = list(pairs)
    futures = [client.submit(_mrr_task, pairs[n][0], pairs[n][1], dict(kwargs), pure=False) for n in names]
    return dict(zip(names, client.gather(futures)))
