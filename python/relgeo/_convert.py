"""Inputs in every form a Python user holds them, turned into what relgeo._core takes:
NumPy arrays (float32 C-contiguous ones pass through without a copy; torch tensors on
the CPU are viewed, not copied) and map bytes or paths."""
from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch

from .errors import InvalidArgumentError

_FLOAT_KINDS = "f"


class ArrayKind:
    """Where an input came from, so that results go back as the same kind."""

    def __init__(self, is_torch: bool, device: Optional[torch.device] = None):
        self.is_torch = is_torch
        self.device = device

    def wrap(self, array: np.ndarray):
        if not self.is_torch:
            return array
        t = torch.from_numpy(array)
        return t if self.device is None or self.device.type == "cpu" else t.to(self.device)


def as_matrix(x: Any, name: str, *, allow_1d: bool = False) -> Tuple[np.ndarray, ArrayKind]:
    """A float array for _core (float32 C-contiguous passes through; float64 and
    strided inputs are converted there), and the kind of `x` for the result."""
    if isinstance(x, torch.Tensor):
        if not (x.is_floating_point()):
            raise InvalidArgumentError(f"{name} must be float32 or float64, got a {x.dtype} tensor")
        kind = ArrayKind(True, x.device)
        t = x.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.float()
        arr = t.numpy()  # a view of the tensor's memory
    else:
        kind = ArrayKind(False)
        arr = np.asarray(x)
        if arr.dtype.kind not in _FLOAT_KINDS:
            raise InvalidArgumentError(f"{name} must be float32 or float64, got {arr.dtype}")
    if allow_1d and arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidArgumentError(f"{name} must be a 2-D array (rows x columns), got shape {tuple(arr.shape)}")
    return arr, kind


def as_ids(ids: Any, name: str = "ids") -> np.ndarray:
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.size and arr.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{name} must be integers, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def map_source(map: Any, latent_dim: int = 0) -> Tuple[Any, bool]:
    """(path, True) or (bytes, False) for a map given as a path, bytes, a TorchScript
    module, a torch.export ExportedProgram (compiled to an AOTInductor package here) or
    any torch.nn.Module (scripted, or traced on a latent-sized input when scripting
    fails)."""
    if isinstance(map, (str, os.PathLike)):
        return os.fspath(map), True
    if isinstance(map, (bytes, bytearray, memoryview)):
        return bytes(map), False
    if isinstance(map, torch.jit.ScriptModule):
        return _script_bytes(map), False
    if isinstance(map, torch.export.ExportedProgram):
        return _aoti_package_bytes(map), False
    if isinstance(map, torch.nn.Module):
        try:
            scripted = torch.jit.script(map)
        except Exception as script_error:  # noqa: BLE001 - any scripting failure falls back to tracing
            if latent_dim <= 0:
                raise InvalidArgumentError(
                    f"torch.jit.script failed on this module ({script_error}); pass the latent dimension "
                    "(input_dim=) so it can be traced, or pass a scripted or exported module"
                ) from script_error
            with torch.no_grad():
                scripted = torch.jit.trace(map, torch.zeros(2, latent_dim))
        return _script_bytes(scripted), False
    raise InvalidArgumentError(
        "map must be a path (.pt, .pt2), bytes, a torch.nn.Module, a TorchScript module or a "
        f"torch.export.ExportedProgram, not {type(map).__name__}"
    )


def map_bytes(map: Any, latent_dim: int = 0) -> bytes:
    source, is_path = map_source(map, latent_dim)
    if not is_path:
        return source
    try:
        with open(source, "rb") as f:
            return f.read()
    except FileNotFoundError as e:
        from .errors import NotFoundError

        raise NotFoundError(f"map file '{source}' does not exist") from e


def _script_bytes(module: torch.jit.ScriptModule) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    return buf.getvalue()


def _aoti_package_bytes(program: torch.export.ExportedProgram) -> bytes:
    # AOTInductor compiles the program with the C++ compiler (tens of seconds, once).
    with tempfile.TemporaryDirectory(prefix="relgeo-aoti-") as d:
        path = torch._inductor.aoti_compile_and_package(program, package_path=os.path.join(d, "map.pt2"))
        with open(path, "rb") as f:
            return f.read()


def progress_callback(progress: Any, total: Optional[int] = None) -> Optional[Callable[[int, Optional[int]], Any]]:
    """None, a callable (done, total) -> bool|None, a tqdm-like bar (anything with
    update() and n), or True for a tqdm bar made here."""
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError as e:
            raise InvalidArgumentError("progress=True needs tqdm (pip install tqdm)") from e
        bar = tqdm(total=total, unit="rows")
        return _bar_callback(bar, close=True)
    if hasattr(progress, "update") and hasattr(progress, "n") and not callable(progress):
        return _bar_callback(progress, close=False)
    if callable(progress):
        return progress
    raise InvalidArgumentError("progress must be a callable (done, total), a tqdm bar, True or None")


def _bar_callback(bar: Any, close: bool):
    def report(done: int, total: Optional[int]):
        if total is not None and getattr(bar, "total", None) != total:
            bar.total = total
            if hasattr(bar, "refresh"):
                bar.refresh()
        bar.update(done - bar.n)
        if close and total is not None and done >= total:
            bar.close()

    return report
