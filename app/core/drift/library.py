"""Check sets in the data folder (``checks/NAME.json``), exported and imported as files.

A file is written atomically and read back as it is: exporting copies its bytes, so
the sha256 a lockfile or a CI job references stays the same wherever the file goes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from app.core.drift.checkset import CheckSet, CheckSetError, check_name
from app.core.fsutil import atomic_write_bytes, make_dirs, sha256_file
from app.core.paths import PRIVATE_FILE, Paths


class CheckSetLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

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

    def load(self, name: str) -> CheckSet:
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(self.names()) or "none yet"
            raise CheckSetError(
                f"There is no check set called '{name}' (known: {known}). Record one with "
                "driftless drift record NAME --prompts FILE.jsonl, or import a file."
            )
        return read_file(path)

    def sha256(self, name: str) -> str:
        return sha256_file(self.path(name))

    def save(self, check_set: CheckSet) -> Path:
        make_dirs(self.folder)
        path = self.path(check_set.name)
        atomic_write_bytes(path, check_set.to_bytes(), PRIVATE_FILE)
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
        make_dirs(self.folder)
        atomic_write_bytes(self.path(check_set.name), source.read_bytes(), PRIVATE_FILE)
        return check_set

    def remove(self, name: str) -> None:
        self.load(name)
        self.path(name).unlink()


def read_file(path: Path) -> CheckSet:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckSetError(f"The check set file {path} cannot be read: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise CheckSetError(
            f"{Path(path).name} is not JSON ({exc.msg}, line {exc.lineno})."
        ) from exc
    return CheckSet.from_json(data, source=Path(path).name)
