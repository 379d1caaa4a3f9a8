"""Typed errors whose message is a sentence a user can act on.

Every front (window, command line) shows ``str(error)`` as it is, so each message
says what went wrong and, where there is one, what to do about it.
"""

from __future__ import annotations

import logging


class DriftlessError(Exception):
    """Base class for every error Driftless reports to a user."""


class Cancelled(DriftlessError):
    """The user (or a shutdown) cancelled the operation; a normal ending."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class ModelNotFound(DriftlessError):
    """No installed model matches what the user named."""


class AmbiguousModelId(DriftlessError):
    """A model id names more than one installed version."""


class InvalidModelFile(DriftlessError):
    """A file is not a GGUF model llama.cpp may safely be given."""


class ChecksumMismatch(DriftlessError):
    """A file's sha256 differs from the one expected."""

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class ModelPinned(DriftlessError):
    """The model is pinned: nothing may update, replace or remove it."""


class LockfileError(DriftlessError):
    """A lockfile cannot be read or does not match what is installed."""


class StoreError(DriftlessError):
    """The model store cannot be read or written."""


class InsufficientDiskSpace(DriftlessError):
    """There is not enough free disk space for the operation."""


class NetworkError(DriftlessError):
    """The Hub (or a mirror) could not be reached or answered with an error."""


class ModelLoadError(DriftlessError):
    """llama.cpp could not load a model."""


class ContextOverflow(DriftlessError):
    """A prompt does not fit in the model's context window."""


def describe_failure(exc: BaseException, log: logging.Logger | None = None) -> str:
    """The sentence a user sees for ``exc``, from the window, the command line or a worker.

    Driftless's own errors already are sentences; an ``OSError`` becomes its reason and
    file. Anything else is unexpected: its traceback always goes to the log (``log``, or
    this module's), and the sentence says where to look.
    """
    logger = log or _log
    if isinstance(exc, DriftlessError):
        logger.info("%s", exc)
        return str(exc)
    if isinstance(exc, OSError):
        logger.info("%s", exc)
        reason = exc.strerror or str(exc) or type(exc).__name__
        return f"{reason}: {exc.filename}" if exc.filename else reason
    logger.error("Unexpected error", exc_info=exc)  # the traceback, for a bug report
    detail = f": {exc}" if str(exc) else ""
    return f"Unexpected error: {type(exc).__name__}{detail}. {LOG_HINT}"


LOG_HINT = "The details are in Driftless's log."


_log = logging.getLogger(__name__)
