"""relgeo.distributed on a real Dask LocalCluster (2 worker processes x 1 thread):
bulk_add equals a single-process Database.add, upserts, a worker killed mid-job, a
driver killed mid-job and the job run again; encode and mrr on the cluster."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import relgeo
import relgeo.distributed as rd
from package_fixtures import Decoder, latents

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

K = 12
N = 600


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_port=0) as cluster, distributed.Client(cluster) as c:
        yield c


def make_db(path):
    d = relgeo.Database(path)
    d.create_anchor_set("a", np.arange(K))
    d.register_model("m1", Decoder(seed=0), anchor_set="a", anchor_latents=latents(K, seed=10))
    for name in ("ref", "dist", "lists"):
        d.create_collection(name, anchor_set="a", steps=4)
    return d


def ref_db(path, ids, z):
    """make_db with the single-process reference: Database.add of (ids, z) into "ref"."""
    d = make_db(path)
    d.add("ref", "m1", ids, z)
    return d


def data(n=N, seed=11):
    ids = np.random.default_rng(seed).permutation(10 * n)[:n].astype(np.int64) - 5 * n  # negative ids too
    return ids, latents(n, seed=seed)


def assert_same_items(db, a, b, ids):
    assert db.count(a) == db.count(b)
    for i in ids:
        x, y = db.get(a, int(i)), db.get(b, int(i))
        assert x.model == y.model
        np.testing.assert_array_equal(x.representation, y.representation)


def test_bulk_add_equals_database_add(client, tmp_path):
    ids, z = data()
    with ref_db(tmp_path / "db", ids, z) as db:
        stats = rd.bulk_add(client, db, "dist", "m1", da.from_array(ids, chunks=100),
                            da.from_array(z, chunks=(100, 3)), work_dir=tmp_path / "work")
        assert stats["items"] == N and stats["replaced"] == 0 and stats["files"] == 6
        assert stats["encode_seconds"] > 0 and stats["index_not_saved"] == ""
        assert os.listdir(tmp_path / "work") == []  # the job's files are gone once ingested
        # Lists of NumPy chunks, uneven and with an empty one.
        cuts = [0, 7, 7, 250, 600]
        rd.bulk_add(client, db, "lists", "m1", [ids[a:b] for a, b in zip(cuts, cuts[1:])],
                    [z[a:b] for a, b in zip(cuts, cuts[1:])])
        for name in ("dist", "lists"):
            info = db.collection_info(name)
            assert info.items == N and info.indexed == N and info.version == 1
            assert_same_items(db, "ref", name, ids)
        q = latents(20, seed=12)
        r_ids, r_scores = db.search("ref", "m1", q, 5)
        d_ids, d_scores = db.search("dist", "m1", q, 5)
        np.testing.assert_array_equal(r_ids, d_ids)
    with relgeo.Database(tmp_path / "db") as db:  # committed and indexed across a reopen
        assert db.count("dist") == N and db.collection_info("dist").index_state == "loaded"
        assert_same_items(db, "ref", "dist", ids[:50])


def test_upserts_over_existing_ids(client, tmp_path):
    ids, z = data()
    with ref_db(tmp_path / "db", ids, z) as db:
        db.add("dist", "m1", ids[:300], -z[:300])  # stale versions of half the ids
        stats = rd.bulk_add(client, db, "dist", "m1", da.from_array(ids[150:], chunks=100),
                            da.from_array(z[150:], chunks=(100, -1)))
        assert stats["items"] == N - 150 and stats["replaced"] == 150
        assert db.count("dist") == N and db.collection_info("dist").indexed == N
        assert_same_items(db, "ref", "dist", ids[150:])
        assert not np.array_equal(db.get("dist", int(ids[0])).representation, db.get("ref", int(ids[0])).representation)
        # The index holds each id once, with its new vector: every ingested item finds itself.
        found, _ = db.search_representations("dist", np.stack([db.get("ref", int(i)).representation for i in ids[150:]]), 1)
        np.testing.assert_array_equal(found[:, 0], ids[150:])


def test_worker_killed_mid_job_finishes_exactly_once(client, tmp_path):
    ids, z = data()
    marker = tmp_path / "marker"
    marker.mkdir()
    with ref_db(tmp_path / "db", ids, z) as db:
        pids = set(client.run(os.getpid).values())
        stats = rd.bulk_add(client, db, "dist", "m1", da.from_array(ids, chunks=100), da.from_array(z, chunks=(100, -1)),
                            _fail_once=str(marker))
        killed = int((marker / "killed-once").read_text())
        assert killed in pids  # partition 0's first attempt really took its worker process down
        assert stats["items"] == N and stats["files"] == 6
        assert db.collection_info("dist").version == 1  # one ingest
        assert_same_items(db, "ref", "dist", ids)
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker


DRIVER = textwrap.dedent("""
    import sys, time
    import numpy as np, dask.array as da, distributed
    import relgeo, relgeo.distributed as rd
    addr, db_path, data_path, work = sys.argv[1:5]
    d = np.load(data_path)
    with distributed.Client(addr) as c, relgeo.Database(db_path) as db:
        print("driver ready", flush=True)
        rd.bulk_add(c, db, "dist", "m1", da.from_array(d["ids"], chunks=25), da.from_array(d["z"], chunks=(25, -1)),
                    work_dir=work, keep_files=True)
        print("driver done", flush=True)
""")


def test_driver_killed_between_tasks_then_rerun(client, tmp_path):
    ids, z = data()
    work = tmp_path / "work"
    work.mkdir()
    ref_db(tmp_path / "db", ids, z).close()
    np.savez(tmp_path / "data.npz", ids=ids, z=z)
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, client.scheduler.address, str(tmp_path / "db"),
                             str(tmp_path / "data.npz"), str(work)], env=os.environ.copy())
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not any(p.endswith(".sst") for p in os.listdir(work)):
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # the driver dies once the first task's file is there
    finally:
        proc.wait()
    written = [p for p in os.listdir(work) if p.endswith(".sst")]
    assert written, "no task finished before the deadline"
    with relgeo.Database(tmp_path / "db") as db:
        # All or nothing: the ingest is one RocksDB call (nothing, almost always, with
        # 24 partitions left to run when the driver died).
        before = db.count("dist")
        assert before in (0, N)
        stats = rd.bulk_add(client, db, "dist", "m1", da.from_array(ids, chunks=25),
                            da.from_array(z, chunks=(25, -1)), work_dir=work)
        assert stats["items"] == N and stats["replaced"] == before
        assert db.collection_info("dist").indexed == N
        assert_same_items(db, "ref", "dist", ids)
    assert [p for p in os.listdir(work) if p.endswith(".sst")] == []


def test_encode_on_the_cluster_equals_relgeo_encode(client):
    z = latents(300, seed=13)
    a = latents(K, seed=10)
    lazy = rd.encode(client, Decoder(seed=0), a, da.from_array(z, chunks=(64, -1)), steps=4)
    assert lazy.shape == (300, K) and lazy.dtype == np.float32
    got = lazy.compute()
    np.testing.assert_array_equal(got, relgeo.encode(Decoder(seed=0), a, z, steps=4, threads=1))


def test_mrr_on_the_cluster_equals_eval_mrr(client):
    rng = np.random.default_rng(5)
    x1 = rng.standard_normal((500, 16)).astype(np.float32)
    x2 = (x1 + 0.8 * rng.standard_normal((500, 16))).astype(np.float32)
    for symmetric in (True, False):
        for k in (0, 5):
            want = relgeo.eval.mrr(x1, x2, symmetric=symmetric, k=k)
            got = rd.mrr(client, x1, x2, symmetric=symmetric, k=k, block_rows=128)
            assert abs(got - want) < 1e-6, (symmetric, k, got, want)
    sweep = rd.mrr_sweep(client, {"same": (x1, x1), "noisy": (x1, x2)})
    assert sweep["same"] == pytest.approx(1.0) and sweep["noisy"] == pytest.approx(relgeo.eval.mrr(x1, x2))


def test_bad_input_is_refused_before_any_task(client, tmp_path):
    ids, z = data(50)
    with make_db(tmp_path / "db") as db:
        with pytest.raises(relgeo.InvalidArgumentError):
            rd.bulk_add(client, db, "dist", "m1", da.from_array(ids[:40]), da.from_array(z))
        with pytest.raises(relgeo.NotFoundError):
            rd.bulk_add(client, db, "nope", "m1", da.from_array(ids), da.from_array(z))
        with pytest.raises(relgeo.InvalidArgumentError):  # duplicate ids within one partition
            rd.bulk_add(client, db, "dist", "m1", [np.array([1, 1])], [z[:2]])
        assert db.count("dist") == 0


def test_readme_dask_example_runs(tmp_path, monkeypatch):
    import re
    text = open(os.path.join(os.environ.get("RELGEO_REPO", "."), "README.md"), encoding="utf-8").read()
    quick = re.findall(r"```python\n(.*?)```", text.split("## Python", 1)[1], flags=re.S)[0]
    dask_block = re.findall(r"```python\n(.*?)```", text.split("## Past one machine: Dask", 1)[1], flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(quick, "README.md (Python quick start)", "exec"), {})  # noqa: S102 - makes quickstart-db
    exec(compile(dask_block, "README.md (Dask)", "exec"), {})  # noqa: S102
    with relgeo.Database(tmp_path / "quickstart-db") as db:
        assert db.count("items") == 5000 and db.get("items", 4999).model == "a"
