"""The label-set library in the data folder: saved versions, exports, and taught heads.

Layout, under ``<data folder>/label_sets``::

    sentiment/v1.json         every saved version, never rewritten
    sentiment/v2.json
    sentiment/heads/v2-<model>-<features>.npz   heads taught for a version and a model

Saving a set whose content equals its latest version returns that version instead
of making a new one. Files are written atomically, so a crash leaves the old or the
new file, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from app.core.classify.errors import LabelSetError
from app.core.classify.labels import LabelSet, load_builtins, slug
from app.core.fsutil import atomic_write_text
from app.core.paths import Paths

_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


class LabelSetLibrary:
    """Saved label sets (all versions) plus the built-in templates."""

    def __init__(self, root: Path, builtin_dir: Path | None = None) -> None:
        self.root = root
        self._builtin_dir = builtin_dir

    @classmethod
    def for_paths(cls, paths: Paths) -> LabelSetLibrary:
        return cls(paths.label_sets_dir)

    # -- reading --

    def builtins(self) -> list[LabelSet]:
        if self._builtin_dir is not None:
            return load_builtins(self._builtin_dir)
        return load_builtins()

    def names(self) -> list[str]:
        """Names of the saved label sets, sorted."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            latest = self._latest_number(folder)
            if latest:
                found.append(self._read(folder / f"v{latest}.json").name)
        return sorted(found, key=str.casefold)

    def list_latest(self) -> list[LabelSet]:
        return [self.get(name) for name in self.names()]

    def versions(self, name: str) -> list[LabelSet]:
        folder = self._folder(name)
        numbers = sorted(self._numbers(folder))
        return [self._read(folder / f"v{n}.json") for n in numbers]

    def get(self, name: str, version: int | None = None) -> LabelSet:
        """A saved set (its latest version unless one is named), else a built-in template."""
        folder = self._folder(name)
        number = version or self._latest_number(folder)
        if number:
            path = folder / f"v{number}.json"
            if path.is_file():
                return self._read(path)
            raise LabelSetError(f"The label set '{name}' has no version {number}.")
        for template in self.builtins():
            if template.name.casefold() == name.strip().casefold() and not version:
                return template
        known = self.names() + [t.name for t in self.builtins()]
        raise LabelSetError(
            f"There is no label set called '{name}'. Known: {', '.join(known) or 'none'}."
        )

    def resolve(self, name_or_file: str) -> LabelSet:
        """A JSON file if ``name_or_file`` is one, else ``name`` or ``name@vN`` from the library."""
        path = Path(name_or_file).expanduser()
        if name_or_file.casefold().endswith(".json") or path.is_file():
            return read_label_set_file(path)
        name, _, version = name_or_file.partition("@")
        if version:
            if not re.fullmatch(r"v?\d+", version):
                raise LabelSetError(f"'{name_or_file}' names no version: use NAME@v2.")
            return self.get(name, int(version.lstrip("v")))
        return self.get(name)

    # -- writing --

    def save(self, label_set: LabelSet) -> LabelSet:
        """Store a new version of ``label_set`` (or return the latest, when it is the same)."""
        folder = self._folder(label_set.name)
        latest = self._latest_number(folder)
        if latest:
            current = self._read(folder / f"v{latest}.json")
            if current.key == label_set.key:
                return current
        number = latest + 1
        saved = replace(
            label_set,
            version=number,
            builtin=False,
            saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        data = json.dumps(saved.to_json(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(folder / f"v{number}.json", data)
        return saved

    def export(self, label_set: LabelSet, path: Path) -> None:
        """Write ``label_set`` as a JSON file someone else can import."""
        data = json.dumps(label_set.to_json(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(Path(path), data)

    # -- heads --

    def head_path(self, label_set: LabelSet, lock_id: str, feature_id: str) -> Path:
        """Where the head taught for this label set version and model lives."""
        model = hashlib.sha256(lock_id.encode("utf-8")).hexdigest()[:12]
        version = f"v{label_set.version}" if label_set.version else f"k{label_set.key}"
        return self._folder(label_set.name) / "heads" / f"{version}-{model}-{feature_id}.npz"

    # -- helpers --

    def _folder(self, name: str) -> Path:
        return self.root / slug(name)

    @staticmethod
    def _numbers(folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        numbers = []
        for path in folder.iterdir():
            match = _VERSION_FILE.match(path.name)
            if match:
                numbers.append(int(match.group(1)))
        return numbers

    def _latest_number(self, folder: Path) -> int:
        return max(self._numbers(folder), default=0)

    @staticmethod
    def _read(path: Path) -> LabelSet:
        return read_label_set_file(path)


def read_label_set_file(path: Path) -> LabelSet:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelSetError(f"There is no label-set file {path}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelSetError(f"The label-set file {path} cannot be read: {exc}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelSetError(
            f"The label-set file {path} is not valid JSON (line {exc.lineno}: {exc.msg})."
        ) from exc
    return LabelSet.from_json(data, source=Path(path).name)
