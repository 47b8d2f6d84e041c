"""Exceptions raised by relgeo. Every one is a :class:`relgeo.Error` and keeps the C++
status code in ``.code``; each also derives from the built-in exception a Python
caller would expect (``ValueError`` for bad input, ``KeyError`` for unknown names,
``OSError`` for storage failures)."""


class Error(Exception):
    """Base class of relgeo's exceptions. ``code`` is the C++ StatusCode's name."""

    code = "Internal"

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class InvalidArgumentError(Error, ValueError):
    """Wrong shape, NaN/Inf, an out-of-range option, a malformed name."""

    code = "InvalidArgument"


class NotFoundError(Error, KeyError):
    """A model, anchor set, collection, item or file that does not exist."""

    code = "NotFound"


class AlreadyExistsError(Error, ValueError):
    """A name that is taken."""

    code = "AlreadyExists"


class CorruptionError(Error):
    """Stored data or a file is damaged (the database refuses to guess)."""

    code = "Corruption"


class StorageError(Error, OSError):
    """The operating system refused a read or write (disk full, permissions)."""

    code = "IOError"


class FailedPreconditionError(Error, RuntimeError):
    """A valid call the current state forbids (database locked or closed, read-only)."""

    code = "FailedPrecondition"


class UnimplementedError(Error, NotImplementedError):
    """This build lacks the feature (e.g. CUDA)."""

    code = "Unimplemented"


class InternalError(Error, RuntimeError):
    """A backend failed in a way the caller could not prevent."""

    code = "Internal"


__all__ = [
    "Error",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "CorruptionError",
    "StorageError",
    "FailedPreconditionError",
    "UnimplementedError",
    "InternalError",
]
