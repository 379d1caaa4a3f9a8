"""``driftless.lock``: the exact models a team runs, as a TOML file.

Export records every pinned model (repo, commit, filename, sha256, size) and the
llama-cpp-python version in use. Import on another machine verifies and pins the
models already present and refuses any whose bytes differ from the lock; a model
that is missing is reported, and downloaded only when the caller passes a fetcher
(``driftless models lock import --download``). The format is documented in the
README; ``schema`` is bumped on any incompatible change.

A lockfile comes from someone else, so it is read as hostile input: at most
:data:`MAX_BYTES` and :data:`MAX_MODELS` entries, no control or bidi characters in
any name, no duplicate ids or hashes, and every error one short sentence.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from app import __version__
from app.core.cancel import CancelToken
from app.core.errors import DriftlessError, LockfileError
from app.core.fsutil import SHA256_RE, atomic_write_text, is_safe_relative_path, read_limited
from app.core.models.store import InstalledModel, ModelStore
from app.core.text import is_printable, printable

SCHEMA = 1
MAX_BYTES = 1024 * 1024
"""A lockfile of a thousand models is about 400 KB; anything past 1 MB is not one."""
MAX_MODELS = 1000
MAX_TEXT = 400
"""Longest id, repo or filename a lockfile may hold."""
SOURCES = ("hub", "bundled", "local-file")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class LockEntry:
    id: str
    source: str
    repo: str | None
    commit: str | None
    filename: str
    sha256: str
    size: int

    def describe(self) -> str:
        where = f"{self.repo}@{self.commit[:7]}" if self.repo and self.commit else "local file"
        return f"{self.id} ({where}, {self.filename})"


@dataclass(frozen=True)
class Lockfile:
    schema: int
    generated_at: str
    driftless: str
    llama_cpp_python: str | None
    models: tuple[LockEntry, ...]


@dataclass
class ImportReport:
    pinned: list[InstalledModel] = field(default_factory=list)
    missing: list[LockEntry] = field(default_factory=list)
    refused: list[tuple[LockEntry, str]] = field(default_factory=list)
    llama_cpp_python_differs: str | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and not self.refused


# Fetching a model the lock names but this machine lacks; the download issue provides it.
Fetcher = Callable[[LockEntry, CancelToken | None], InstalledModel]


def llama_cpp_version() -> str | None:
    """The installed llama-cpp-python version, read without loading the native library."""
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return None


def _toml_str(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def render(lock: Lockfile) -> str:
    lines = [
        "# driftless.lock: the exact models this team runs. Import it with",
        "#   driftless models lock import driftless.lock",
        f"schema = {lock.schema}",
        f"generated_at = {_toml_str(lock.generated_at)}",
        f"driftless = {_toml_str(lock.driftless)}",
    ]
    if lock.llama_cpp_python:
        lines.append(f"llama_cpp_python = {_toml_str(lock.llama_cpp_python)}")
    for entry in lock.models:
        lines += ["", "[[model]]"]
        lines.append(f"id = {_toml_str(entry.id)}")
        lines.append(f"source = {_toml_str(entry.source)}")
        if entry.repo:
            lines.append(f"repo = {_toml_str(entry.repo)}")
        if entry.commit:
            lines.append(f"commit = {_toml_str(entry.commit)}")
        lines.append(f"filename = {_toml_str(entry.filename)}")
        lines.append(f"sha256 = {_toml_str(entry.sha256)}")
        lines.append(f"size = {entry.size}")
    return "\n".join(lines) + "\n"


def build(store: ModelStore) -> Lockfile:
    entries = tuple(
        LockEntry(
            id=m.id,
            source=m.source,
            repo=m.repo,
            commit=m.commit,
            filename=m.filename,
            sha256=m.sha256,
            size=m.size,
        )
        for m in store.list_models()
        if m.pinned
    )
    return Lockfile(
        schema=SCHEMA,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        driftless=__version__,
        llama_cpp_python=llama_cpp_version(),
        models=entries,
    )


def export(store: ModelStore, path: Path) -> Lockfile:
    lock = build(store)
    if not lock.models:
        raise LockfileError(
            "No model is pinned, so there is nothing to lock. Pin one first "
            "(driftless models pin ID)."
        )
    try:
        atomic_write_text(path, render(lock))
    except OSError as exc:
        raise LockfileError(f"Could not write {path}: {exc.strerror or exc}.") from exc
    return lock


def load(path: Path) -> Lockfile:
    name = printable(path.name, 120)
    try:
        raw = read_limited(path, MAX_BYTES)
    except OSError as exc:
        raise LockfileError(f"Could not read {printable(path)}: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_BYTES:
        raise LockfileError(
            f"{name} is larger than {MAX_BYTES // 1024 // 1024} MB, so it is not a Driftless "
            "lockfile (one lists a few models in a few KB). Nothing was imported."
        )
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LockfileError(f"{name} is not a valid lockfile: it is not UTF-8 text.") from exc
    except tomllib.TOMLDecodeError as exc:
        reason = printable(exc, 160)
        raise LockfileError(f"{name} is not a valid lockfile: {reason}.") from exc
    except RecursionError as exc:  # tomllib recurses once per nested array or table
        raise LockfileError(
            f"{name} is not a valid lockfile: its values are nested too deeply."
        ) from exc
    schema = data.get("schema")
    if schema != SCHEMA:
        shown = printable(repr(schema), 40)
        raise LockfileError(
            f"{name} has lockfile schema {shown}; this Driftless reads schema {SCHEMA}."
        )
    models = data.get("model", [])
    if not isinstance(models, list):
        raise LockfileError(f"{name}: 'model' must be a list of [[model]] tables.")
    if not models:
        raise LockfileError(
            f"{name} names no models, so there is nothing to import. Export one from a "
            "machine with pinned models: driftless models lock export FILE."
        )
    if len(models) > MAX_MODELS:
        raise LockfileError(
            f"{name} names {len(models):,} models; a lockfile holds at most {MAX_MODELS:,}."
        )
    entries = tuple(_entry(name, n, item) for n, item in enumerate(models, start=1))
    _refuse_duplicates(name, entries)
    llama = data.get("llama_cpp_python")
    return Lockfile(
        schema=SCHEMA,
        generated_at=printable(data.get("generated_at", ""), 80),
        driftless=printable(data.get("driftless", ""), 40),
        llama_cpp_python=printable(llama, 40) if isinstance(llama, str) else None,
        models=entries,
    )


def _refuse_duplicates(name: str, entries: tuple[LockEntry, ...]) -> None:
    """Two entries for one id (or one file) would pin twice and report twice."""
    seen_ids: dict[str, int] = {}
    seen_hashes: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        for seen, key, what in (
            (seen_ids, entry.id, f"id '{entry.id}'"),
            (seen_hashes, entry.sha256, f"sha256 {entry.sha256}"),
        ):
            if key in seen:
                raise LockfileError(
                    f"{name}: models {seen[key]} and {number} have the same {what}; "
                    "each model is listed once."
                )
            seen[key] = number


def _entry(name: str, number: int, item: object) -> LockEntry:
    where = f"{name}, model {number}"
    if not isinstance(item, dict):
        raise LockfileError(f"{where}: expected a [[model]] table.")

    def text(key: str, required: bool = True) -> str | None:
        value = item.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise LockfileError(f"{where}: '{key}' must be a non-empty string.")
        if len(value) > MAX_TEXT:
            raise LockfileError(f"{where}: '{key}' is longer than {MAX_TEXT} characters.")
        if not is_printable(value):
            raise LockfileError(
                f"{where}: '{key}' ({printable(value, 80)}) contains control or "
                "bidirectional-text characters, which no model name has."
            )
        return value

    sha256 = (text("sha256") or "").lower()
    if not SHA256_RE.match(sha256):
        raise LockfileError(f"{where}: sha256 must be 64 hex digits.")
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise LockfileError(f"{where}: size must be a positive whole number.")
    commit = text("commit", required=False)
    if commit is not None and not _COMMIT.match(commit):
        raise LockfileError(f"{where}: commit must be a full 40-hex commit sha.")
    filename = text("filename") or ""
    if not is_safe_relative_path(filename):
        raise LockfileError(f"{where}: filename '{filename}' escapes the model folder.")
    source = text("source", required=False) or "hub"
    if source not in SOURCES:
        raise LockfileError(f"{where}: source must be one of {', '.join(SOURCES)}.")
    repo = text("repo", required=False)
    if repo is not None and (repo.count("/") != 1 or not is_safe_relative_path(repo)):
        raise LockfileError(f"{where}: repo '{repo}' is not a Hub repository like 'owner/name'.")
    return LockEntry(
        id=text("id") or "",
        source=source,
        repo=repo,
        commit=commit,
        filename=filename,
        sha256=sha256,
        size=size,
    )


def import_lock(
    store: ModelStore,
    path: Path,
    *,
    fetch: Fetcher | None = None,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """Verify and pin each locked model found here; fetch the missing ones if able."""
    lock = load(path)
    report = ImportReport()
    current = llama_cpp_version()
    if lock.llama_cpp_python and current and lock.llama_cpp_python != current:
        report.llama_cpp_python_differs = (
            f"The lock was made with llama-cpp-python {lock.llama_cpp_python}; "
            f"this machine has {current}. Outputs may differ slightly."
        )
    for entry in lock.models:
        if cancel is not None:
            cancel.raise_if_cancelled()
        candidate = _present(store, entry)
        if isinstance(candidate, str):
            report.refused.append((entry, candidate))
            continue
        if candidate is None:
            if fetch is None:
                report.missing.append(entry)
                continue
            try:
                candidate = fetch(entry, cancel)
            except DriftlessError as exc:
                report.refused.append((entry, str(exc)))
                continue
        result = store.verify(candidate.id, cancel=cancel)
        if not result.ok:
            report.refused.append((entry, result.message))
            continue
        if candidate.sha256 != entry.sha256:
            report.refused.append((entry, _differs(entry, candidate)))
            continue
        if candidate.size != entry.size:
            report.refused.append(
                (
                    entry,
                    f"{entry.describe()}: the installed file has {candidate.size:,} bytes, but "
                    f"the lock says {entry.size:,}. Refused; nothing was pinned. The lock was "
                    "edited or damaged: export it again from the machine that made it.",
                )
            )
            continue
        report.pinned.append(store.pin(candidate.id))
    return report


def _present(store: ModelStore, entry: LockEntry) -> InstalledModel | str | None:
    """The installed model for an entry, None if absent, or why it conflicts."""
    if entry.repo and entry.commit:
        same_version = store.find_version(entry.repo, entry.commit, entry.filename)
        if same_version is not None:
            if same_version.sha256 != entry.sha256:
                return _differs(entry, same_version)
            return same_version
    same_bytes = store.find_by_sha256(entry.sha256)
    return same_bytes[0] if same_bytes else None


def _differs(entry: LockEntry, model: InstalledModel) -> str:
    return (
        f"{entry.describe()}: the installed file's sha256 is {model.sha256}, "
        f"but the lock requires {entry.sha256}. Refused; nothing was pinned."
    )
