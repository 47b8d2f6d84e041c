"""relgeo.eval: the measures and baselines of the paper's protocol, in C++:
cross-space MRR, cosine relative representations, linear and orthogonal
(Procrustes) alignment fitted on anchors, and anchor selection."""
from __future__ import annotations

from typing import Any, Optional

from . import _core
from ._convert import as_matrix
from .encoding import encode


def mrr(x1: Any, x2: Any, *, similarity: str = "cosine", symmetric: bool = True, k: int = 0) -> float:
    """Mean reciprocal rank of x2's row i for x1's row i (n x d each). ``similarity``:
    "cosine" or "cdist"; ``symmetric`` averages S and S^T first (the paper's
    headline); ``k > 0``: MRR@k."""
    a, _ = as_matrix(x1, "x1")
    b, _ = as_matrix(x2, "x2")
    return _core.mrr(a, b, similarity, symmetric, k)


def retrieval_ranks(x1: Any, x2: Any, *, similarity: str = "cosine", symmetric: bool = True):
    """1-based rank of x2's row i for x1's row i (ties count against the query)."""
    a, kind = as_matrix(x1, "x1")
    b, _ = as_matrix(x2, "x2")
    return kind.wrap(_core.retrieval_ranks(a, b, similarity, symmetric))


def mrr_all_variants(x1: Any, x2: Any, *, k: int = 10) -> dict:
    """Cosine/cdist x symmetric/asymmetric MRR, full and @k, in one pass."""
    a, _ = as_matrix(x1, "x1")
    b, _ = as_matrix(x2, "x2")
    return _core.mrr_all_variants(a, b, k)


def cosine_relative(anchors: Any, latents: Any):
    """Cosine relative representations (Moschella et al. 2023): n x K cosine
    similarities of ``latents`` to ``anchors``."""
    return encode(None, anchors, latents, method="cosine")


class Alignment:
    """A map between two latent spaces fitted on anchor pairs (see :func:`procrustes`,
    :func:`linear_map`). Results come back as the kind of their input."""

    def __init__(self, core: Any):
        self._core = core

    def source_to_shared(self, z1: Any):
        z, kind = as_matrix(z1, "z1")
        return kind.wrap(self._core.source_to_shared(z))

    def target_to_shared(self, z2: Any):
        z, kind = as_matrix(z2, "z2")
        return kind.wrap(self._core.target_to_shared(z))

    def source_to_target(self, z1: Any):
        """z1 carried into space 2's own coordinates (for stitching)."""
        z, kind = as_matrix(z1, "z1")
        return kind.wrap(self._core.source_to_target(z))

    @property
    def method(self) -> str:
        return self._core.method

    @property
    def matrix(self):
        """W (d1 x d2) for linear, R (D x D) for orthogonal."""
        return self._core.matrix


def procrustes(anchors1: Any, anchors2: Any, *, standardize: str = "per_dimension") -> Alignment:
    """Orthogonal alignment R = U V^T after standardising each space with its own anchor
    statistics and zero-padding to a common dimension."""
    a, _ = as_matrix(anchors1, "anchors1")
    b, _ = as_matrix(anchors2, "anchors2")
    return Alignment(_core.Alignment.fit("orthogonal", a, b, -1.0, standardize))


def linear_map(anchors1: Any, anchors2: Any, *, ridge: Optional[float] = None) -> Alignment:
    """Least-squares W = argmin |A1 W - A2|_F (ridge-regularised when the anchors
    cannot determine it; ``ridge`` relative to the anchors' mean squared norm)."""
    a, _ = as_matrix(anchors1, "anchors1")
    b, _ = as_matrix(anchors2, "anchors2")
    return Alignment(_core.Alignment.fit("linear", a, b, -1.0 if ridge is None else float(ridge), "per_dimension"))


def select_anchors(pool: Any, k: int, *, method: str = "uniform", seed: int = 0):
    """k distinct row indices of ``pool``: "uniform", "fps" (farthest point) or
    "kmeans" (centroids snapped to real rows). Deterministic for a seed; uniform and
    fps give nested sets (the result for k is a prefix of the one for any larger k)."""
    p, _ = as_matrix(pool, "pool")
    return _core.select_anchors(p, int(k), method, int(seed))


def uniform_anchors(pool: Any, k: int, *, seed: int = 0):
    return select_anchors(pool, k, method="uniform", seed=seed)


def farthest_point_anchors(pool: Any, k: int, *, seed: int = 0):
    return select_anchors(pool, k, method="fps", seed=seed)


def kmeans_anchors(pool: Any, k: int, *, seed: int = 0):
    return select_anchors(pool, k, method="kmeans", seed=seed)
