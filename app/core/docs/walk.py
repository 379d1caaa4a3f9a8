"""Which files a collection's folders hold: bounded, loop-safe, every refusal named.

Folders are walked in name order; hidden files and folders (``.git``) are passed over.
A symbolic link is followed, but a folder already seen on this walk (a link loop, or two
links to one place) is skipped and said to be; a broken link and a folder that cannot be
listed are skipped with the reason. At most :data:`MAX_FILES` supported files are taken
from one add, and :data:`MAX_ENTRIES` entries looked at, so a folder of millions of files
ends in seconds with a sentence instead of a hang.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.docs.readers import kind_of

MAX_FILES = 20_000
"""Supported files one add takes; the rest are named as left out."""
MAX_ENTRIES = 200_000
"""Directory entries one add looks at, whatever their type."""


@dataclass(frozen=True)
class Skip:
    path: str
    reason: str


@dataclass
class Found:
    """What a walk found: the files to read (absolute, resolved) and what it left out."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unsupported: int = 0
    """Files of a type Driftless does not read (pictures, archives...): counted, not listed."""
    truncated: str | None = None
    """The sentence said when a limit stopped the walk."""


def find_files(
    roots: Sequence[Path], *, max_files: int = MAX_FILES, max_entries: int = MAX_ENTRIES
) -> Found:
    found = Found()
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    entries = 0

    def take(path: Path) -> bool:
        """Add one file; False once the limit is reached."""
        if len(found.files) >= max_files:
            found.truncated = (
                f"More than {max_files:,} files to read: the first {max_files:,} (in name "
                "order) were taken. Add smaller folders as collections of their own."
            )
            return False
        resolved = str(path.resolve())
        if resolved not in seen_files:
            seen_files.add(resolved)
            found.files.append(Path(resolved))
        return True

    for root in roots:
        root = Path(os.path.abspath(os.path.expanduser(root)))
        try:
            info = root.stat()
        except OSError as exc:
            found.skipped.append(Skip(str(root), _os_reason(exc, root)))
            continue
        if stat.S_ISREG(info.st_mode):
            if kind_of(root) is None:
                found.skipped.append(
                    Skip(str(root), f"{root.suffix or 'no suffix'} is not a supported type")
                )
            elif not take(root):
                return found
            continue
        if not stat.S_ISDIR(info.st_mode):
            found.skipped.append(Skip(str(root), "it is neither a file nor a folder"))
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                key = folder.stat()
                ident = (key.st_dev, key.st_ino)
            except OSError as exc:
                found.skipped.append(Skip(str(folder), _os_reason(exc, folder)))
                continue
            if ident in seen_dirs:
                found.skipped.append(
                    Skip(str(folder), "a link loop: this folder was already read on this add")
                )
                continue
            seen_dirs.add(ident)
            try:
                with os.scandir(folder) as listing:
                    children = sorted(listing, key=lambda entry: entry.name)
            except OSError as exc:
                found.skipped.append(Skip(str(folder), _os_reason(exc, folder)))
                continue
            subfolders: list[Path] = []
            for entry in children:
                entries += 1
                if entries > max_entries:
                    found.truncated = (
                        f"The folders hold more than {max_entries:,} entries; the walk stopped "
                        "there. Add smaller folders as collections of their own."
                    )
                    return found
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                try:
                    is_dir = entry.is_dir(follow_symlinks=True)
                    is_file = not is_dir and entry.is_file(follow_symlinks=True)
                except OSError as exc:
                    found.skipped.append(Skip(entry.path, _os_reason(exc, path)))
                    continue
                if is_dir:
                    subfolders.append(path)
                elif not is_file:
                    if entry.is_symlink() and not path.exists():
                        found.skipped.append(Skip(entry.path, "a broken link"))
                    continue  # sockets, fifos, devices: never documents
                elif kind_of(path) is None:
                    found.unsupported += 1
                elif not take(path):
                    return found
            stack.extend(reversed(subfolders))
    return found


def _os_reason(exc: OSError, path: Path) -> str:
    if isinstance(exc, PermissionError):
        return "it cannot be read (permission denied)"
    if isinstance(exc, FileNotFoundError):
        return "a broken link" if path.is_symlink() else "it does not exist"
    if exc.errno == 40:  # ELOOP: a link that points at itself, however deep
        return "a link loop"
    return f"it cannot be read ({exc.strerror or exc})"
