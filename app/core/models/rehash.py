"""When an installed file is hashed again before a load, beyond a changed size or mtime.

Restoring an edited file's mtime with ``touch`` or ``utime`` changes its ctime, so the
ctime seen at the last verification is remembered, and a file is re-hashed when it moved;
and on the first load :data:`REHASH_AFTER` after the last verification in any case.

The ctimes live beside the registry (``cache/verified/``), not in it: a lost or damaged
record only means one more re-hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core.fsutil import atomic_write_text

REHASH_AFTER = timedelta(days=30)
"""A file is re-hashed on its first load once this long has passed since its last check."""


class VerifiedCtimes:
    """The ctime of each file at its last verification, under one data folder."""

    def __init__(self, home: Path) -> None:
        self.folder = home / "cache" / "verified"

    def remember(self, path: Path, stat: os.stat_result) -> None:
        """Note ``path``'s ctime as verified (a failure only costs one more re-hash)."""
        record = {"path": str(path.resolve()), "ctime_ns": stat.st_ctime_ns}
        with contextlib.suppress(OSError):
            atomic_write_text(self._file(path), json.dumps(record))

    def rehash_due(self, path: Path, stat: os.stat_result, verified_at: str | None) -> bool:
        """Whether a file verified at ``verified_at`` (ISO 8601) must be hashed again."""
        verified = _parse_time(verified_at)
        if verified is None or datetime.now(UTC) - verified > REHASH_AFTER:
            return True
        try:
            record = json.loads(self._file(path).read_text(encoding="utf-8"))
            return bool(record["ctime_ns"] != stat.st_ctime_ns)
        except (OSError, ValueError, KeyError, TypeError):
            return True

    def _file(self, path: Path) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
        return self.folder / f"{key}.json"


def _parse_time(text: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
