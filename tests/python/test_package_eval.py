"""relgeo.eval from Python: MRR, alignments and anchor selection, checked against
closed forms and NumPy."""
import numpy as np
import pytest
import torch

import relgeo
from package_fixtures import latents


def numpy_mrr(x1, x2, symmetric):
    a = x1 / np.linalg.norm(x1, axis=1, keepdims=True)
    b = x2 / np.linalg.norm(x2, axis=1, keepdims=True)
    s = a @ b.T
    if symmetric:
        s = (s + s.T) / 2
    ranks = 1 + ((s >= np.diag(s)[:, None]).sum(axis=1) - 1)
    return float(np.mean(1.0 / ranks))


@pytest.mark.parametrize("symmetric", [True, False])
def test_mrr_matches_numpy(symmetric):
    x1 = latents(80, d=5, seed=1)
    x2 = x1 + 0.8 * latents(80, d=5, seed=2)
    got = relgeo.eval.mrr(x1, x2, symmetric=symmetric)
    assert got == pytest.approx(numpy_mrr(x1, x2, symmetric), rel=1e-6)
    assert relgeo.eval.mrr(x1, x1) == 1.0
    ranks = relgeo.eval.retrieval_ranks(x1, x2, symmetric=symmetric)
    assert ranks.dtype == np.int64 and ranks.shape == (80,)
    assert np.mean(1.0 / ranks) == pytest.approx(got, rel=1e-9)
    v = relgeo.eval.mrr_all_variants(x1, x2, k=10)
    assert v["cosine_sym" if symmetric else "cosine"] == pytest.approx(got, rel=1e-9)


def test_linear_map_recovers_an_exact_linear_map():
    a1 = latents(50, d=4, seed=3)
    w = latents(4, d=7, seed=4)
    al = relgeo.eval.linear_map(a1, a1 @ w)
    z = latents(9, d=4, seed=5)
    np.testing.assert_allclose(al.source_to_target(z), z @ w, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(al.matrix, w, rtol=1e-4, atol=1e-4)
    t = al.source_to_target(torch.from_numpy(z))
    assert isinstance(t, torch.Tensor)


def test_procrustes_recovers_a_rotation():
    a1 = latents(60, d=5, seed=6)
    q, _ = np.linalg.qr(latents(5, d=5, seed=7).astype(np.float64))
    a2 = (a1 @ q).astype(np.float32)
    al = relgeo.eval.procrustes(a1, a2, standardize="none")
    assert al.method == "orthogonal"
    z = latents(10, d=5, seed=8)
    np.testing.assert_allclose(al.source_to_target(z), z @ q, rtol=1e-4, atol=1e-4)
    assert relgeo.eval.mrr(al.source_to_shared(z), al.target_to_shared(z @ q)) == 1.0


def test_anchor_selectors_are_deterministic_distinct_and_nested():
    pool = latents(200, d=3, seed=9)
    for method in ("uniform", "fps", "kmeans"):
        a = relgeo.eval.select_anchors(pool, 20, method=method, seed=3)
        assert len(set(a.tolist())) == 20 and a.min() >= 0 and a.max() < 200
        np.testing.assert_array_equal(a, relgeo.eval.select_anchors(pool, 20, method=method, seed=3))
    small = relgeo.eval.farthest_point_anchors(pool, 5, seed=1)
    np.testing.assert_array_equal(relgeo.eval.farthest_point_anchors(pool, 12, seed=1)[:5], small)
    with pytest.raises(ValueError):
        relgeo.eval.select_anchors(pool, 300)
    with pytest.raises(ValueError):
        relgeo.eval.select_anchors(pool, 3, method="random-walk")
