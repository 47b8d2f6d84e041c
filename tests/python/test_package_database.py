"""relgeo.Database from Python: cross-model retrieval against exact search, bulk
loading with progress, filters, errors that keep their status code, and two threads
at once."""
import io
import os
import threading

import numpy as np
import pytest
import torch

import relgeo
from package_fixtures import Decoder, cosine_topk, latents

K = 12
D = 6


@pytest.fixture()
def db(tmp_path):
    with relgeo.Database(tmp_path / "db") as d:
        anchors = latents(K, seed=10)
        d.create_anchor_set("a", np.arange(K))
        d.register_model("m1", Decoder(seed=0), anchor_set="a", anchor_latents=anchors)
        d.register_model("m2", Decoder(seed=1), anchor_set="a", anchor_latents=anchors * 1.1)
        d.create_collection("c", anchor_set="a", steps=4)
        yield d


def test_add_get_search_agree_with_encode_and_exact_search(db):
    z = latents(200, seed=11)
    ids = np.arange(1000, 1200)
    db.add("c", "m1", ids, z, payloads=[f"item {i}" for i in ids])
    assert db.count("c") == 200
    reps = relgeo.encode(Decoder(seed=0), latents(K, seed=10), z, steps=4)
    item = db.get("c", 1005)
    assert item.id == 1005 and item.model == "m1" and item.payload == b"item 1005"
    np.testing.assert_allclose(item.representation, reps[5], rtol=1e-6)
    np.testing.assert_allclose(db.encode("m1", "a", z, steps=4), reps, rtol=1e-6)

    q = latents(7, seed=12)
    got_ids, got_scores = db.search("c", "m2", q, k=5)
    assert got_ids.shape == (7, 5) and got_scores.shape == (7, 5)
    q_reps = relgeo.encode(Decoder(seed=1), latents(K, seed=10) * 1.1, q, steps=4)
    want_rows, want_scores = cosine_topk(reps, q_reps, 5)
    np.testing.assert_array_equal(got_ids, ids[want_rows])
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)

    one_ids, one_scores = db.search("c", "m2", torch.from_numpy(q[0]), k=5)
    assert isinstance(one_ids, torch.Tensor) and one_ids.shape == (5,)
    np.testing.assert_array_equal(one_ids.numpy(), got_ids[0])

    r_ids, _ = db.search_representations("c", q_reps, k=5)
    np.testing.assert_array_equal(r_ids, got_ids)


def test_upsert_remove_and_listings(db):
    z = latents(30, seed=13)
    db.add("c", "m1", np.arange(30), z)
    db.add("c", "m2", np.arange(20, 40), latents(20, seed=14))
    assert db.count("c") == 40 and db.get("c", 25).model == "m2"
    assert db.remove("c", [0, 1, 2, 999]) == 3
    assert db.count("c") == 37
    with pytest.raises(KeyError):
        db.get("c", 0)
    info = db.collection_info("c")
    assert (info.items, info.indexed, info.index, info.steps) == (37, 37, "Flat", 4)
    assert [m.name for m in db.list_models()] == ["m1", "m2"]
    assert db.list_models()[0].anchor_sets == ["a"]
    sets = db.list_anchor_sets()
    assert sets[0].name == "a" and list(sets[0].sample_ids) == list(range(K))
    db.create_collection("d", anchor_set="a", index="HNSW16")
    assert sorted(c.name for c in db.list_collections()) == ["c", "d"]
    db.drop_collection("d")
    assert [c.name for c in db.list_collections()] == ["c"]


def batches_of(ids, z, sizes):
    start = 0
    for s in sizes:
        yield ids[start:start + s], z[start:start + s]
        start += s


def test_bulk_add_streams_any_iterable_with_progress(db):
    z = latents(500, seed=15)
    ids = np.arange(500)
    calls = []
    stats = db.bulk_add("c", "m1", batches_of(ids, z, [7, 300, 1, 150, 42]), batch_size=64, total=500,
                        progress=lambda done, total: calls.append((done, total)))
    assert stats["items"] == 500 and stats["batches"] == 8
    assert calls[-1] == (500, 500) and len(calls) == 8
    assert db.count("c") == 500
    np.testing.assert_allclose(db.get("c", 321).representation, db.encode("m1", "a", z[321:322], steps=4)[0], rtol=1e-6)


def test_bulk_add_with_a_tqdm_bar(db):
    tqdm = pytest.importorskip("tqdm")
    z = latents(100, seed=16)
    bar = tqdm.tqdm(file=io.StringIO())
    db.bulk_add("c", "m1", [(torch.arange(100), torch.from_numpy(z))], batch_size=32, total=100, progress=bar)
    assert bar.n == 100 and db.count("c") == 100


def test_bulk_add_stopped_or_failing_keeps_only_whole_batches(db):
    z = latents(100, seed=17)
    stats = db.bulk_add("c", "m1", [(np.arange(100), z)], batch_size=10, progress=lambda done, total: done < 30)
    assert stats["items"] == 30 and db.count("c") == 30

    def failing():
        yield np.arange(100, 125), z[:25]
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        db.bulk_add("c", "m1", failing(), batch_size=10)
    assert db.count("c") == 30 + 20  # two whole batches of the 25 rows landed before the error
    with pytest.raises(ValueError, match="pair"):
        db.bulk_add("c", "m1", [np.arange(3)], batch_size=10)
    with pytest.raises(ValueError, match="ids for"):
        db.bulk_add("c", "m1", [(np.arange(3), z[:4])], batch_size=10)
    assert db.count("c") == 50


def test_filters(db):
    z = latents(60, seed=18)
    db.add("c", "m1", np.arange(60), z)
    q = latents(3, seed=19)
    ids, _ = db.search("c", "m1", q, k=4, filter=lambda i: i % 2 == 0)
    assert (ids % 2 == 0).all() and (ids >= 0).all()
    allowed = {5, 6, 7}
    ids, _ = db.search("c", "m1", q, k=4, filter=allowed)
    assert set(ids[:, :3].ravel()) <= allowed and (ids[:, 3] == -1).all()

    def broken(i):
        raise ZeroDivisionError("filter bug")

    with pytest.raises(ZeroDivisionError, match="filter bug"):
        db.search("c", "m1", q, k=4, filter=broken)


def test_errors_keep_their_status_code(db, tmp_path):
    z = latents(5, seed=20)
    with pytest.raises(relgeo.NotFoundError) as e:
        db.add("nope", "m1", np.arange(5), z)
    assert isinstance(e.value, KeyError) and e.value.code == "NotFound" and "nope" in str(e.value)
    with pytest.raises(KeyError):
        db.search("c", "unknown-model", z, k=3)
    with pytest.raises(relgeo.AlreadyExistsError):
        db.create_collection("c", anchor_set="a")
    with pytest.raises(ValueError, match="columns"):
        db.add("c", "m1", np.arange(5), z[:, :3])
    with pytest.raises(ValueError, match="ids for"):
        db.add("c", "m1", np.arange(4), z)
    with pytest.raises(ValueError, match="integers"):
        db.add("c", "m1", np.arange(5) + 0.5, z)
    with pytest.raises(ValueError):
        db.search("c", "m1", z, k=0)
    with pytest.raises(relgeo.FailedPreconditionError, match="already open"):
        relgeo.Database(db.path)
    assert db.count("c") == 0  # nothing half-written by the failed calls
    db.close()
    with pytest.raises(relgeo.FailedPreconditionError, match="closed"):
        db.count("c")


def test_read_only_and_corrupt_databases(tmp_path):
    path = tmp_path / "db"
    with relgeo.Database(path) as d:
        d.create_anchor_set("a", np.arange(K))
    with relgeo.Database(path, read_only=True) as r:
        assert r.list_anchor_sets()[0].name == "a"
        with pytest.raises(relgeo.FailedPreconditionError):
            r.create_anchor_set("b", np.arange(3))
    with open(path / "CURRENT", "w") as f:
        f.write("garbage\n")
    with pytest.raises(relgeo.CorruptionError):
        relgeo.Database(path)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(relgeo.Error):
        relgeo.Database(not_a_dir)


def test_two_threads_search_and_add_at_once(db):
    z = latents(400, seed=21)
    db.add("c", "m1", np.arange(200), z[:200])
    q = latents(16, seed=22)
    want_ids, _ = db.search("c", "m2", q, k=5)
    errors, ticks = [], [0]

    def searcher():
        try:
            for _ in range(40):
                ids, _ = db.search("c", "m2", q, k=5)
                assert (ids >= 0).all()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def adder():
        try:
            for b in range(10):
                db.add("c", "m1", np.arange(200 + 20 * b, 220 + 20 * b), z[200 + 20 * b:220 + 20 * b])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=searcher), threading.Thread(target=adder)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert db.count("c") == 400
    # the first 200 items' neighbours among themselves are unchanged by the adds
    ids, _ = db.search("c", "m2", q, k=5, filter=lambda i: i < 200)
    np.testing.assert_array_equal(ids, want_ids)
