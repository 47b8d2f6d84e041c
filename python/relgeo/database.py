"""relgeo.Database: the embedded database of relative representations (RocksDB +
FAISS, on a directory; no server). Mirrors include/relgeo/database.h; every method
is thread-safe and releases the GIL while C++ works."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from ._convert import as_ids, as_matrix, map_bytes, progress_callback
from .errors import InvalidArgumentError


@dataclass
class Item:
    """One stored item: its id, the model that indexed it, its K-value
    representation and its payload."""

    id: int
    model: str
    representation: np.ndarray
    payload: bytes


@dataclass
class CollectionInfo:
    name: str
    anchor_set: str
    index: str
    steps: int
    mode: str
    items: int
    indexed: int
    index_trained: bool
    version: int
    index_state: str


@dataclass
class ModelInfo:
    name: str
    latent_dim: int
    output_dim: int
    distance: str
    map_bytes: int
    has_encoder: bool
    anchor_sets: List[str] = field(default_factory=list)


@dataclass
class AnchorSetInfo:
    name: str
    sample_ids: np.ndarray


def _converted(batches: Iterable[Tuple[Any, Any]]):
    """The batches as (int64 ids, float latents) arrays, pulled one at a time."""
    for batch in batches:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise InvalidArgumentError("each batch must be a pair (ids, latents)")
        yield as_ids(batch[0], "batch ids"), as_matrix(batch[1], "batch latents")[0]


Filter = Union[Callable[[int], bool], Iterable[int], np.ndarray, None]


class Database:
    """An embedded relgeo database in directory ``path`` (created if missing).

    Use it as a context manager (``with relgeo.Database(p) as db:``) or call
    :meth:`close`. Only one handle (in any process) may have a directory open for
    writing; ``read_only=True`` opens without writing anything.
    """

    def __init__(self, path: Union[str, os.PathLike], *, create_if_missing: bool = True, read_only: bool = False,
                 sync_writes: bool = False, index_save_every: int = 0):
        self._db = _core.Database(os.fspath(path), create_if_missing, read_only, sync_writes, index_save_every)

    # ---- lifetime
    def close(self) -> None:
        """Saves dirty indexes and closes RocksDB; later calls raise FailedPreconditionError."""
        self._db.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def save_indexes(self) -> None:
        self._db.save_indexes()

    @property
    def path(self) -> str:
        return self._db.path

    # ---- anchor sets
    def create_anchor_set(self, name: str, ids: Sequence[int]) -> None:
        """An ordered set of K distinct sample ids that every model of the set attaches latents for."""
        self._db.create_anchor_set(name, as_ids(ids))

    def drop_anchor_set(self, name: str) -> None:
        self._db.drop_anchor_set(name)

    def list_anchor_sets(self) -> List[AnchorSetInfo]:
        return [AnchorSetInfo(**d) for d in self._db.list_anchor_sets()]

    # ---- models
    def register_model(self, name: str, map: Any, *, anchor_set: Optional[str] = None, anchor_latents: Any = None,
                       distance: str = "euclidean", encoder: Any = None, latent_dim: int = 0) -> None:
        """Stores a model's metric map (path, bytes or module, as for :func:`relgeo.encode`)
        and, with ``anchor_set``, its K x d ``anchor_latents`` in the same write.
        ``encoder``: an optional raw-input -> latent module (for :meth:`search_inputs`)."""
        anchors = None
        if anchor_latents is not None:
            anchors, _ = as_matrix(anchor_latents, "anchor_latents")
        dim = latent_dim or (anchors.shape[1] if anchors is not None else 0)
        enc = None if encoder is None else map_bytes(encoder)
        self._db.register_model(name, map_bytes(map, dim), distance, latent_dim, enc, anchor_set or "", anchors)

    def attach_anchors(self, model: str, anchor_set: str, anchor_latents: Any) -> None:
        a, _ = as_matrix(anchor_latents, "anchor_latents")
        self._db.attach_anchors(model, anchor_set, a)

    def drop_model(self, name: str) -> None:
        self._db.drop_model(name)

    def list_models(self) -> List[ModelInfo]:
        return [ModelInfo(**d) for d in self._db.list_models()]

    # ---- collections
    def create_collection(self, name: str, *, anchor_set: str, index: str = "Flat", steps: int = 8,
                          mode: str = "length") -> None:
        """A collection over ``anchor_set``; ``index`` is a FAISS-style spec
        ("Flat", "HNSW32", "IVF256,Flat", ...)."""
        self._db.create_collection(name, anchor_set, index, steps, mode)

    def drop_collection(self, name: str) -> None:
        self._db.drop_collection(name)

    def list_collections(self) -> List[CollectionInfo]:
        return [CollectionInfo(**d) for d in self._db.list_collections()]

    def collection_info(self, name: str) -> CollectionInfo:
        return CollectionInfo(**self._db.collection_info(name))

    def count(self, collection: str) -> int:
        """Items stored in ``collection``."""
        return self._db.collection_info(collection)["items"]

    # ---- items
    def add(self, collection: str, model: str, ids: Sequence[int], latents: Any,
            payloads: Optional[Sequence[Union[bytes, str]]] = None) -> None:
        """Encodes n x d ``latents`` with ``model`` and stores them under ``ids``
        (existing ids are replaced), atomically."""
        z, _ = as_matrix(latents, "latents")
        self._db.add(collection, model, as_ids(ids), z, payloads, False)

    def add_representations(self, collection: str, model: str, ids: Sequence[int], representations: Any,
                            payloads: Optional[Sequence[Union[bytes, str]]] = None) -> None:
        """Stores precomputed n x K representations as if ``model`` made them."""
        r, _ = as_matrix(representations, "representations")
        self._db.add(collection, model, as_ids(ids), r, payloads, True)

    def bulk_add(self, collection: str, model: str, batches: Iterable[Tuple[Any, Any]], *, batch_size: int = 4096,
                 total: Optional[int] = None, progress: Any = None, resume_key: str = "") -> dict:
        """Streams ``(ids, latents)`` pairs from any iterable, one atomic write per
        ``batch_size`` items. ``progress``: a callable ``(done, total)`` (return False to
        stop; committed batches stay), a tqdm bar or True. What the iterable raises is
        raised after the batches before it are committed. ``resume_key`` (an identity
        of the source) makes an interrupted call resumable (docs/database.md).
        Returns the counts and timings (BulkStats)."""
        return self._db.bulk_add(collection, model, _converted(batches), batch_size, -1 if total is None else total,
                                 progress_callback(progress, total), resume_key)

    def remove(self, collection: str, ids: Sequence[int]) -> int:
        """Removes the ids; returns how many existed."""
        return self._db.remove(collection, as_ids(ids))

    def get(self, collection: str, id: int) -> Item:
        return Item(*self._db.get(collection, int(id)))

    # ---- queries
    def search(self, collection: str, model: str, queries: Any, k: int = 10, *, ef_search: Optional[int] = None,
               nprobe: Optional[int] = None, filter: Filter = None):
        """Encodes ``queries`` (n x d latents of ``model``) and returns ``(ids, scores)``,
        each n x k (1-D for one 1-D query), best first; ids are -1 where fewer than k
        items match. ``filter``: a callable id -> bool or a collection of allowed ids."""
        return self._search(collection, model, queries, k, ef_search, nprobe, filter, "latents")

    def search_representations(self, collection: str, representations: Any, k: int = 10, *,
                               ef_search: Optional[int] = None, nprobe: Optional[int] = None, filter: Filter = None):
        return self._search(collection, "", representations, k, ef_search, nprobe, filter, "representations")

    def search_inputs(self, collection: str, model: str, inputs: Any, k: int = 10, *, ef_search: Optional[int] = None,
                      nprobe: Optional[int] = None, filter: Filter = None):
        """Raw inputs through the model's stored encoder, then :meth:`search`."""
        return self._search(collection, model, inputs, k, ef_search, nprobe, filter, "inputs")

    def _search(self, collection, model, queries, k, ef_search, nprobe, filter, kind):
        one = np.ndim(queries) == 1
        q, out_kind = as_matrix(queries, "queries", allow_1d=True)
        if filter is not None and not callable(filter):
            filter = as_ids(filter if hasattr(filter, "__array__") else np.fromiter(filter, dtype=np.int64), "filter")
        ids, scores = self._db.search(collection, model, q, int(k), ef_search or 0, nprobe or 0, filter, kind)
        if one:
            ids, scores = ids[0], scores[0]
        return out_kind.wrap(ids), out_kind.wrap(scores)

    def encode(self, model: str, anchor_set: str, latents: Any, *, steps: int = 8, mode: str = "length"):
        """n x d latents -> n x K representations with the model's stored map and its
        anchors for ``anchor_set`` (a collection's items use the collection's steps and mode)."""
        z, kind = as_matrix(latents, "latents")
        return kind.wrap(self._db.encode(model, anchor_set, z, steps, mode))

    def encode_inputs(self, model: str, inputs: Any):
        x, kind = as_matrix(inputs, "inputs")
        return kind.wrap(self._db.encode_inputs(model, x))
