"""Check sets in the data folder (``checks/NAME.json``), exported and imported as files.

A file is written atomically, always in its canonical form (an import not in that form
is rewritten, so one check set has one sha256 everywhere), and read back as it is:
exporting copies its bytes, so the sha256 a lockfile or a CI job references stays the
same wherever the file goes. The sha256 of every file written is also kept in the
registry (:mod:`.registry`): a file edited since is refused as "changed since it was
recorded", never checked as if it were the recording. Imports are capped like
lockfiles: the file's size first, then its items and texts (:func:`read_file`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from app.core.drift.checkset import MAX_FILE_BYTES, CheckSet, CheckSetError, check_name
from app.core.drift.registry import CheckSetRegistry
from app.core.fsutil import atomic_write_bytes, make_dirs, read_limited, sha256_file
from app.core.paths import PRIVATE_FILE, Paths
from app.core.units import human_size


class CheckSetChanged(CheckSetError):
    """A stored check set's file is not what Driftless wrote (edited, or replaced)."""


class CheckSetLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._registry: CheckSetRegistry | None = None

    @property
    def registry(self) -> CheckSetRegistry:
        if self._registry is None:
            make_dirs(self.folder)
            registry = CheckSetRegistry(self.folder)
            # Files written before there was a registry are trusted as they are, once.
            registry.adopt((name, sha256_file(self.path(name))) for name in self.names())
            self._registry = registry
        return self._registry

    @classmethod
    def for_paths(cls, paths: Paths) -> CheckSetLibrary:
        return cls(paths.checks_dir)

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def load(self, name: str, *, verify: bool = True) -> CheckSet:
        """The stored check set, refused when its file changed since Driftless wrote it.

        ``verify=False`` reads an edited file anyway: only to record it again, which
        replaces its answers and makes it the recorded file.
        """
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(self.names()) or "none yet"
            raise CheckSetError(
                f"There is no check set called '{name}' (known: {known}). Record one with "
                "driftless drift record NAME --prompts FILE.jsonl, or import a file."
            )
        data = _read_capped(path)
        if not verify:
            return parse_bytes(data, path.name)
        entry = self.registry.get(name)
        actual = hashlib.sha256(data).hexdigest()
        if entry is None or entry.sha256 is None:
            raise CheckSetChanged(
                f"The check set file {path.name} was not written by Driftless (it is not in "
                "the registry of recorded and imported check sets), so its answers are not "
                f"trusted. Import it (driftless drift import FILE --replace) or record it."
            )
        if actual != entry.sha256:
            raise CheckSetChanged(
                f"The check set '{name}' changed since it was recorded: its file's sha256 is "
                f"{actual[:16]}..., and {entry.sha256[:16]}... was recorded. Record it again "
                f"(driftless drift record {name} --again) or import the file you trust "
                "(driftless drift import FILE --replace)."
            )
        return parse_bytes(data, path.name)

    def sha256(self, name: str) -> str:
        return sha256_file(self.path(name))

    @contextlib.contextmanager
    def recording(self, name: str, *, again: bool = False) -> Iterator[None]:
        """Hold ``name`` while its answers are recorded: a second recording of the same
        name (another window or command) is refused until this one is stored or fails."""
        self.registry.claim(check_name(name), again=again, file_exists=self.exists(name))
        try:
            yield
        finally:
            self.registry.release(name)

    def save(self, check_set: CheckSet) -> Path:
        make_dirs(self.folder)
        path = self.path(check_set.name)
        data = check_set.to_bytes()
        if len(data) > MAX_FILE_BYTES:
            raise CheckSetError(
                f"The check set '{check_set.name}' would take {human_size(len(data))}, more than "
                f"the {human_size(MAX_FILE_BYTES)} a check set may: record fewer prompts or "
                "fewer tokens per answer."
            )
        self.registry.store(
            check_set.name,
            hashlib.sha256(data).hexdigest(),
            lambda: atomic_write_bytes(path, data, PRIVATE_FILE),
        )
        return path

    def export(self, name: str, destination: Path) -> Path:
        source = self.path(name)
        self.load(name)  # a clear error when it is missing or damaged
        target = destination / source.name if destination.is_dir() else destination
        shutil.copyfile(source, target)
        return target

    def import_file(
        self, source: Path, *, name: str | None = None, replace: bool = False
    ) -> CheckSet:
        """Store a check set file, in canonical form (see :meth:`CheckSet.to_bytes`)."""
        check_set = read_file(source)
        if name is not None and name != check_set.name:
            raise CheckSetError(
                f"{source.name} holds the check set '{check_set.name}'; it is imported under "
                "its own name (the name is part of what its sha256 covers)."
            )
        if self.exists(check_set.name) and not replace:
            raise CheckSetError(
                f"A check set called '{check_set.name}' exists already. Remove it first "
                "(driftless drift remove NAME), or import with --replace."
            )
        self.save(check_set)
        return check_set

    def remove(self, name: str) -> None:
        path = self.path(name)
        if not path.is_file():
            self.load(name)  # the sentence naming the known check sets
        path.unlink()
        self.registry.forget(name)


def read_file(path: Path) -> CheckSet:
    """A check set file from anywhere, size-capped before it is read."""
    return parse_bytes(_read_capped(Path(path)), Path(path).name)


def parse_bytes(data: bytes, source: str) -> CheckSet:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckSetError(f"The check set file {source} is not UTF-8 text: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise CheckSetError(f"{source} is not JSON ({exc.msg}, line {exc.lineno}).") from exc
    except RecursionError:
        raise CheckSetError(f"{source} nests too deeply to be a check set.") from None
    return CheckSet.from_json(parsed, source=source)


def _read_capped(path: Path) -> bytes:
    try:
        data = read_limited(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise CheckSetError(f"The check set file {path} cannot be read: {exc}.") from exc
    if len(data) > MAX_FILE_BYTES:
        raise CheckSetError(
            f"{path.name} is larger than {human_size(MAX_FILE_BYTES)}, far larger than a check "
            "set of the most prompts and texts Driftless records, so it is not read."
        )
    return data
