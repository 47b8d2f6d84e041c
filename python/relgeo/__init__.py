"""relgeo: relative geodesic representations (arXiv 2506.01599) for connecting the
latent spaces of independently trained models, with an embedded vector database.

The work is done by relgeo's C++ library (relgeo._core); this package gives it
NumPy/torch inputs and outputs, Python exceptions and progress bars. docs/python.md
has the guide.
"""
# torch first: relgeo._core links the LibTorch inside this torch package, and importing
# torch loads it the way torch expects (then `import relgeo; import torch` and
# `import torch; import relgeo` are the same process state).
import torch as _torch  # noqa: F401


def _share_libtorch_globally() -> None:
    """Python loads torch's libraries privately (RTLD_LOCAL); relgeo's command line has
    them in the global scope. AOTInductor packages (.pt2) whose wrapper library was
    linked without libtorch (inductor links whichever libtorch.so its -L order finds
    first, e.g. Debian's when libtorch-dev is installed) expect the aoti_torch_* symbols
    there, so promote the already loaded libraries to global (RTLD_NOLOAD: nothing new
    is loaded) and a package loads the same way in both."""
    import ctypes
    import os

    lib = os.path.join(os.path.dirname(_torch.__file__), "lib")
    for name in ("libc10.so", "libtorch_cpu.so", "libtorch.so"):
        path = os.path.join(lib, name)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=os.RTLD_GLOBAL | os.RTLD_NOLOAD)
            except OSError:
                pass  # not loaded under this name: nothing to promote


_share_libtorch_globally()

from . import errors
from .errors import (AlreadyExistsError, CorruptionError, Error, FailedPreconditionError, InternalError,
                     InvalidArgumentError, NotFoundError, StorageError, UnimplementedError)
from . import _core
from .encoding import Encoder, encode
from .database import AnchorSetInfo, CollectionInfo, Database, Item, ModelInfo
from . import eval  # noqa: A004 - relgeo.eval is the documented name
from . import distributed  # noqa: F401 - relgeo.distributed: Dask bulk indexing (dask imported on use)

__version__ = _core.version()["relgeo"]

# relgeo's one thread setting (LibTorch, OpenMP for FAISS, BLAS) follows what torch uses
# now (all cores unless the user changed it): torch's first call can leave OpenMP at one
# thread, which FAISS would then inherit (docs/design.md §6.1).
_core.set_threads(_torch.get_num_threads())


def version() -> dict:
    """relgeo's version and what this build is made of (as ``relgeo version --json``)."""
    return _core.version()


def set_threads(n: int = 0) -> int:
    """Threads for LibTorch, OpenMP (FAISS) and BLAS, process-wide; 0 = all cores.
    Returns the count applied."""
    return _core.set_threads(int(n))


__all__ = [
    "encode", "Encoder", "Database", "Item", "CollectionInfo", "ModelInfo", "AnchorSetInfo", "eval", "errors",
    "Error", "InvalidArgumentError", "NotFoundError", "AlreadyExistsError", "CorruptionError", "StorageError",
    "FailedPreconditionError", "UnimplementedError", "InternalError", "version", "set_threads", "__version__",
]
