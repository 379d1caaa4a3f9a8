"""Copying a file into the model store: hashed while copied, staged, swept when abandoned.

An import copies the file into a staging folder under a name unique to its process and
call, hashing it on the way, and holds a lock on the copy while it writes. The store then
moves the copy into place, or drops it when the same bytes are installed already. A copy
left by an import that was killed is swept by the next import (:func:`sweep_staging`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.errors import StoreError
from app.core.fsutil import CHUNK, ProgressCallback, make_dirs, open_private

STAGING_SUFFIX = ".incomplete"
STALE_STAGING_SECONDS = 60.0
"""A staging file unlocked and untouched this long belongs to an import that was killed."""


@contextmanager
def staged_copy(
    source: Path,
    staging: Path,
    on_progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> Iterator[tuple[Path, str]]:
    """A copy of ``source`` in ``staging`` and its sha256, deleted on the way out.

    Move the copy away inside the ``with`` block to keep it. An ``OSError`` in the block
    (a full disk, a folder that cannot be written) becomes a ``StoreError`` sentence.
    """
    make_dirs(staging)
    sweep_staging(staging)
    # Unique per process and call: two imports of same-named files must never share
    # (or delete) each other's bytes.
    partial = staging / f"{source.name}.{os.getpid()}-{secrets.token_hex(4)}{STAGING_SUFFIX}"
    try:
        yield partial, copy_hashing(source, partial, on_progress, cancel)
    except OSError as exc:
        raise StoreError(f"Could not copy {source.name} into the model store: {exc}.") from exc
    finally:
        partial.unlink(missing_ok=True)


def copy_hashing(
    source: Path,
    dest: Path,
    on_progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> str:
    """Copy ``source`` to a new file ``dest`` (flushed and fsynced); return its sha256."""
    digest = hashlib.sha256()
    total = source.stat().st_size
    done = 0
    with source.open("rb") as src, open_private(dest) as out:
        _lock(out.fileno())  # held until closed: sweep_staging leaves a locked file alone
        while chunk := src.read(CHUNK):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(chunk)
            out.write(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def sweep_staging(folder: Path) -> list[Path]:
    """Delete the staging files of imports that were killed; return what was deleted.

    A file counts as left over when it has not been written to for a minute and no
    process holds its lock (an import locks its file while copying). Where there are no
    such locks (Windows), the system refuses to delete a file still open.
    """
    removed: list[Path] = []
    now = time.time()
    for item in folder.glob(f"*{STAGING_SUFFIX}"):
        try:
            if now - item.stat().st_mtime < STALE_STAGING_SECONDS or _locked(item):
                continue
            item.unlink()
        except OSError:
            continue  # gone already, or still in use
        removed.append(item)
    return removed


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: an open file cannot be deleted anyway
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _locked(path: Path) -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False
