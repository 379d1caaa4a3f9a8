"""The defensive reading under the GGUF parser: a regular file only, no length believed.

:func:`open_regular_file` refuses a folder, a device, a pipe or a socket, also one
swapped in between the check and the open, and never waits on a FIFO.
:class:`BoundedReader` reads a file whose size is known and checks every length
against the bytes left before it reads, so a hostile count or string length becomes a
sentence (:func:`invalid`) instead of a huge allocation or a read past the end.
:mod:`app.core.models.gguf` parses the header with them.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO

from app.core.errors import InvalidModelFile
from app.core.units import human_size

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")


def open_regular_file(path: Path, label: str) -> int:
    """A read-only descriptor of ``path``, which must be a regular file."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as error:
        raise InvalidModelFile(f"{path} does not exist.") from error
    except PermissionError as error:
        raise InvalidModelFile(f"{label} cannot be read: permission denied.") from error
    except OSError as error:
        raise InvalidModelFile(f"{label} cannot be read: {error.strerror or error}.") from error
    _require_regular(info.st_mode, label)
    # O_NONBLOCK: if the path is swapped for a FIFO after the stat above, opening it
    # must not wait forever for a writer; fstat below then rejects it.
    flags = (
        os.O_RDONLY
        | getattr(os, "O_BINARY", 0)
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_NOCTTY", 0)
    )
    try:
        fd = os.open(path, flags)
    except PermissionError as error:
        raise InvalidModelFile(f"{label} cannot be read: permission denied.") from error
    except OSError as error:
        raise InvalidModelFile(f"{label} cannot be read: {error.strerror or error}.") from error
    try:
        _require_regular(os.fstat(fd).st_mode, label)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_regular(mode: int, label: str) -> None:
    if stat.S_ISDIR(mode):
        raise InvalidModelFile(f"{label} is a folder, not a model file.")
    if not stat.S_ISREG(mode):
        raise InvalidModelFile(f"{label} is not a regular file (it is a device, pipe or socket).")


def two_sizes(a: int, b: int) -> tuple[str, str]:
    """Both sizes for a comparison, exact when rounding would make them look equal."""
    rounded = human_size(a), human_size(b)
    return (f"{a:,} bytes", f"{b:,} bytes") if rounded[0] == rounded[1] else rounded


def shown(text: str) -> str:
    """A key or name for a message: quoted and escaped by repr, and short, however long."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def invalid(label: str, detail: str) -> InvalidModelFile:
    return InvalidModelFile(f"{label} is not a valid GGUF model file: {detail}.")


class BoundedReader:
    """Reads that never pass the end; ``_pos`` mirrors the file position so no tell() is needed."""

    def __init__(self, handle: BinaryIO, label: str, size: int) -> None:
        self._f = handle
        self._label = label
        self._size = size
        self._pos = 0

    @property
    def _remaining(self) -> int:
        return self._size - self._pos

    def _take(self, n: int) -> bytes:
        if n > self._remaining:
            raise InvalidModelFile(
                f"{self._label} is truncated: it ends at {human_size(self._size)}, "
                "in the middle of its header."
            )
        data = self._f.read(n)
        if len(data) != n:  # shrank since fstat: being rewritten or downloaded
            raise InvalidModelFile(f"{self._label} changed while it was being read.")
        self._pos += n
        return data

    def _skip(self, n: int) -> None:
        if n > self._remaining:
            raise InvalidModelFile(
                f"{self._label} is truncated: it ends at {human_size(self._size)}, "
                "in the middle of its header."
            )
        self._f.seek(n, os.SEEK_CUR)
        self._pos += n

    def _u32(self) -> int:
        value: int = U32.unpack(self._take(4))[0]
        return value

    def _u64(self) -> int:
        value: int = U64.unpack(self._take(8))[0]
        return value

    def _string_bytes(self, cap: int, where: str) -> bytes:
        length = self._u64()
        if length > self._remaining:
            raise invalid(
                self._label,
                f"{where} claims {human_size(length)} of text, "
                f"but the file has only {human_size(self._remaining)} left",
            )
        if length > cap:
            have, limit = two_sizes(length, cap)
            raise invalid(
                self._label, f"{where} is {have} long, more than the {limit} Driftless accepts"
            )
        return self._take(length)
