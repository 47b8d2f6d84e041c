"""relgeo.encode and relgeo.Encoder: latents -> relative geodesic representations."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Optional

from . import _core
from ._convert import as_matrix, map_source, progress_callback

_threads_lock = threading.Lock()


@contextlib.contextmanager
def threads_for_call(threads: Optional[int]):
    """Sets relgeo's (LibTorch, OpenMP, BLAS) thread count for one call and restores it."""
    if threads is None:
        yield
        return
    with _threads_lock:
        before = _core.threads()
        _core.set_threads(int(threads))
    try:
        yield
    finally:
        with _threads_lock:
            _core.set_threads(before)


class Encoder:
    """A metric map with its anchors, ready to encode many batches.

    ``relgeo.encode`` builds one per call; keep an ``Encoder`` when you encode
    repeatedly with the same map and anchors (the map is loaded and the anchors'
    images f(a_k) computed once, here).

    Args:
        map: the metric map f: a path (``.pt`` TorchScript, ``.pt2`` AOTInductor
            package), the bytes of one, a ``torch.nn.Module`` (scripted, or traced
            when scripting fails), a TorchScript module or a
            ``torch.export.ExportedProgram`` (compiled to a ``.pt2`` here).
            Ignored (may be None) for ``method="cosine"``.
        anchors: K x d anchor latents (NumPy array or torch tensor).
        steps: N, straight-line segments per (latent, anchor) pair.
        mode: ``"length"`` (the paper's) or ``"energy"``.
        distance: output-space distance: ``"euclidean"``, ``"sphere"`` (DIET
            heads), ``"fisher"`` (classifier logits).
        method: ``"relgeo"`` or ``"cosine"`` (cosine relative representations).
        precision: ``"fp32"`` or ``"bf16"`` (native MLP path's GEMMs).
        device: ``"cpu"`` or ``"cuda[:i]"`` (a CUDA build with a visible GPU).
        input_dim: the map's latent dimension d; 0 infers it.
    """

    def __init__(self, map: Any, anchors: Any, *, steps: int = 8, mode: str = "length",
                 distance: str = "euclidean", method: str = "relgeo", precision: str = "fp32",
                 device: str = "cpu", input_dim: int = 0):
        a, _ = as_matrix(anchors, "anchors")
        if method == "cosine" and map is None:
            source, is_path = b"", False
        else:
            source, is_path = map_source(map, input_dim or a.shape[1])
        self._core = _core.Encoder(source, is_path, a, steps, mode, distance, method, precision, device, input_dim)

    def encode(self, latents: Any, *, progress: Any = None, threads: Optional[int] = None):
        """n x d latents -> n x K representations, as the same kind as ``latents``
        (NumPy in, NumPy out; torch in, torch out). The GIL is released while C++
        works. ``progress``: a callable ``(done, total)`` (return False to stop), a tqdm
        bar, or True for a new tqdm bar; with it, the rows go in pieces and Ctrl-C
        stops between them."""
        z, kind = as_matrix(latents, "latents")
        with threads_for_call(threads):
            return kind.wrap(self._core.encode(z, progress_callback(progress, z.shape[0])))

    __call__ = encode

    @property
    def num_anchors(self) -> int:
        return self._core.num_anchors

    @property
    def latent_dim(self) -> int:
        return self._core.latent_dim

    @property
    def execution_plan(self) -> str:
        """How the map is evaluated (fast paths in use), as ``relgeo encode -v`` logs it."""
        return self._core.execution_plan


def encode(map: Any, anchors: Any, latents: Any, *, steps: int = 8, mode: str = "length",
           distance: str = "euclidean", method: str = "relgeo", precision: str = "fp32",
           device: str = "cpu", threads: Optional[int] = None, input_dim: int = 0, progress: Any = None):
    """Relative representations of ``latents`` (n x d) against ``anchors`` (K x d):
    row i, column k is the pullback path length from latent i to anchor k through the
    map (``method="relgeo"``), or their cosine similarity (``method="cosine"``).
    Arguments as for :class:`Encoder`; ``threads`` sets relgeo's thread count for
    this call. Returns the same kind as ``latents`` (NumPy or torch), float32."""
    with threads_for_call(threads):
        enc = Encoder(map, anchors, steps=steps, mode=mode, distance=distance, method=method,
                      precision=precision, device=device, input_dim=input_dim)
        return enc.encode(latents, progress=progress)
