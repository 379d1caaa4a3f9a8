"""File helpers that keep data whole: atomic replacement, streaming sha256, safe paths."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

from app.core.cancel import CancelToken
from app.core.paths import PRIVATE_DIR, PRIVATE_FILE

CHUNK = 1024 * 1024

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
"""A sha256 as Driftless writes it: 64 lower-case hex digits."""

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total)."""


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entry table so a rename in it survives a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported (e.g. Windows); the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each its owner's alone (0700).

    ``Path.mkdir(mode=..., parents=True)`` would give the parents the default mode.
    """
    missing: list[Path] = []
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for item in reversed(missing):
        item.mkdir(mode=PRIVATE_DIR, exist_ok=True)


_OPEN_FLAGS = {
    "xb": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def open_private(path: Path, mode: Literal["xb", "wb", "ab"] = "xb") -> BinaryIO:
    """Open ``path`` for writing; a file it creates is its owner's alone (0600) from the
    first byte, whatever the umask (``Path.open`` would give 0644, or 0666 under umask 0).

    An existing file keeps its mode (the data folder's check at start tightens those).
    """
    fd = os.open(path, _OPEN_FLAGS[mode] | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    return os.fdopen(fd, mode)


def create_private(path: Path) -> None:
    """Create ``path`` empty and private (0600) if it is missing, for a writer that opens
    it by name (SQLite, llama.cpp's quantizer, a resumed download).

    It exists, or cannot be made: the writer's own open then says why."""
    with contextlib.suppress(OSError):
        open_private(path).close()


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``: a crash leaves the old or the new file, never half.

    The new file is its owner's alone (0600, as ``mkstemp`` makes it) unless ``mode``
    says otherwise: most of what Driftless writes is private.
    """
    make_dirs(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def read_limited(path: Path, limit: int) -> bytes:
    """``path``'s bytes, but never more than ``limit + 1``: a result longer than ``limit``
    means the file is too large (an untrusted file is not read whole to find out)."""
    with path.open("rb") as handle:
        return handle.read(limit + 1)


def sha256_file(
    path: Path,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """The hex sha256 of a file, read in chunks; cancellable between chunks."""
    return hash_file(path, on_progress, cancel).hexdigest()


def hash_file(
    path: Path,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> hashlib._Hash:
    """The sha256 object after reading all of ``path``, to go on hashing what follows."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    return digest


def is_safe_relative_path(name: str) -> bool:
    """True when ``name`` stays inside the folder it is joined to (no ``..``, no root)."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", name):
        return False
    parts = name.split("/")
    return all(part not in ("", ".", "..") for part in parts)


def remove_empty_parents(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    with contextlib.suppress(OSError):  # not empty: leave it
        while folder != stop and stop in folder.parents:
            folder.rmdir()
            folder = folder.parent


_UNSAFE_IN_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)]
)


def safe_file_name(text: str, fallback: str, limit: int = 80) -> str:
    """``text`` as a file name any system accepts: no ``<>:"/\\|?*`` or controls, no leading
    or trailing dots and spaces, not a reserved Windows name, at most ``limit`` characters."""
    name = _UNSAFE_IN_NAMES.sub(" ", text)
    name = re.sub(r"\s+", " ", name).strip(" .")[:limit].strip(" .")
    if not name or name.split(".")[0].upper() in _RESERVED_NAMES:
        return fallback
    return name
