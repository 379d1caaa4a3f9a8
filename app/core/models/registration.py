"""Recording a model version in the registry: where it came from, its id, its row.

A version is one row of the ``models`` table (:mod:`app.core.models.registry` keeps the
schema). Its typeable id is the file name made into a slug (:func:`slugify`), with a
commit or sha256 prefix added when another version already has the plain one. These
functions run inside the store's write transactions, so two processes registering one
version make one row, and the choice of the active model never sees a half-made change.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from app.core.models.gguf import GGUFInfo

Source = Literal["hub", "bundled", "local-file"]


@dataclass(frozen=True)
class Provenance:
    """Where a model file came from, as recorded at install time."""

    source: Source
    repo: str | None = None
    commit: str | None = None
    revision: str | None = None
    license: str | None = None


def slugify(filename: str) -> str:
    """The typeable base id of a model file: ``SmolLM2-135M.Q4_1.gguf`` -> ``smollm2-135m-q4_1``."""
    stem = filename.rsplit("/", 1)[-1]
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    slug = re.sub(r"[^a-z0-9_]+", "-", stem.lower()).strip("-")
    return slug or "model"


def now_stamp() -> str:
    """The registry's timestamps: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def insert_version(
    conn: sqlite3.Connection,
    path: Path,
    provenance: Provenance,
    filename: str,
    sha256: str,
    managed: bool,
    info: GGUFInfo,
    pinned: bool,
) -> str:
    """Add the row of a new version (the first one becomes active); return its id."""
    stat = path.stat()
    base_id = slugify(filename)
    taken = {r[0] for r in conn.execute("SELECT id FROM models").fetchall()}
    model_id = _new_id(base_id, provenance.commit or sha256, taken)
    now = now_stamp()
    conn.execute(
        "INSERT INTO models (id, base_id, source, repo, commit_sha, revision, filename,"
        " path, managed, sha256, size, mtime_ns, license, installed_at, architecture,"
        " model_name, context_length, quantization, parameter_count,"
        " chat_template_sha256, pinned, verified_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            model_id,
            base_id,
            provenance.source,
            provenance.repo,
            provenance.commit,
            provenance.revision,
            filename,
            str(path.resolve()),
            int(managed),
            sha256,
            stat.st_size,
            stat.st_mtime_ns,
            provenance.license or info.license,
            now,
            info.architecture,
            info.name,
            info.context_length,
            info.quantization,
            info.parameter_count,
            info.chat_template_sha256,
            int(pinned),
            now,
        ),
    )
    has_active = conn.execute("SELECT 1 FROM settings WHERE key = 'active_model'").fetchone()
    if not has_active:
        conn.execute("INSERT INTO settings (key, value) VALUES ('active_model', ?)", (model_id,))
    return model_id


def same_version(
    conn: sqlite3.Connection, provenance: Provenance, filename: str, sha256: str
) -> str | None:
    """The id of the row already recording this version, if any."""
    if provenance.repo and provenance.commit:
        row = conn.execute(
            "SELECT id FROM models WHERE repo = ? AND commit_sha = ? AND filename = ?",
            (provenance.repo, provenance.commit, filename),
        ).fetchone()
    elif provenance.source == "local-file":
        row = conn.execute(
            "SELECT id FROM models WHERE source = 'local-file' AND sha256 = ?", (sha256,)
        ).fetchone()
    else:
        row = None
    return str(row["id"]) if row else None


def activate_fallback(conn: sqlite3.Connection) -> None:
    """After the active model went away: the bundled starter, a pinned model, or the newest."""
    rows = conn.execute(
        "SELECT id, path FROM models "
        "ORDER BY source = 'bundled' DESC, pinned DESC, installed_at DESC"
    ).fetchall()
    for row in rows:
        if Path(row["path"]).is_file():  # never hand over to a file that is gone
            conn.execute(
                "INSERT INTO settings (key, value) VALUES ('active_model', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (row["id"],),
            )
            return


def _new_id(base_id: str, version_key: str, taken: set[str]) -> str:
    if base_id not in taken:
        return base_id
    for length in (7, 12, 40, 64):
        candidate = f"{base_id}@{version_key[:length]}"
        if candidate not in taken:
            return candidate
    counter = 2
    while f"{base_id}@{version_key[:12]}-{counter}" in taken:
        counter += 1
    return f"{base_id}@{version_key[:12]}-{counter}"
