"""The model store when several processes use one data folder at once.

Each real-process test starts its processes, waits until every one has done its imports
and says it is ready, then lets them all go at the same moment (a line on stdin), so the
race the test is about really runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.core.db import apply_migrations
from app.core.fsutil import sha256_file
from app.core.models import registry
from app.core.models import staging as staging_module
from app.core.models.registration import Provenance
from app.core.models.staging import sweep_staging
from app.core.models.starter import STARTER
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from tests.model_files import tiny_model

ROOT = Path(__file__).resolve().parents[3]


def start_together(commands: list[list[str]], home: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run ``commands`` as processes released at one moment; return how each ended.

    Each command is wrapped so that it prints ``ready`` and waits for a line on stdin
    before it runs.
    """
    gate = "import sys; print('ready', flush=True); sys.stdin.readline()\n"
    env = {**os.environ, "DRIFTLESS_HOME": str(home)}
    procs = []
    for argv in commands:
        if argv[:1] == ["-c"]:
            code = argv[1]
            imports, _, body = code.partition("# go\n")
            script = imports + gate + body
        else:  # ["-m", "app", ...]: the real command line
            script = gate + f"import sys; from app.cli import main; sys.exit(main({argv[2:]!r}))\n"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=env,
            )
        )
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc, argv in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return results


def test_processes_starting_at_once_register_the_starter_once(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    code = textwrap.dedent(
        """
        from app.core.models.starter import ensure_starter
        from app.core.models.store import ModelStore
        from app.core.paths import get_paths
        # go
        model = ensure_starter(ModelStore(get_paths()))
        print(model.id)
        """
    )
    results = start_together([["-c", code]] * 6, home)
    for result in results:
        assert result.returncode == 0, result.stderr
    assert {r.stdout.strip() for r in results} == {"smollm2-135m-instruct-q4_1"}
    store = ModelStore(get_paths(home))
    (model,) = store.list_models()
    assert model.pinned and model.sha256 == STARTER.sha256
    active = store.active()
    assert active is not None and active.id == model.id


def test_two_copy_imports_of_same_named_files_each_record_their_own_bytes(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    ModelStore(get_paths(home)).close()  # the registry exists; the race is the imports'
    sources = []
    for seed in (1, 2):
        folder = tmp_path / f"from-{seed}"
        folder.mkdir()
        # Big enough that the two copies overlap in time.
        sources.append(tiny_model(folder / "model.gguf", seed=seed, pad_bytes=24_000_000))
    results = start_together(
        [["-m", "app", "models", "import", "--copy", str(s)] for s in sources], home
    )
    for source, result in zip(sources, results, strict=True):
        assert result.returncode == 0, result.stderr
        reported = re.search(r"sha256 ([0-9a-f]{64})", result.stderr)
        assert reported is not None, result.stderr
        assert reported.group(1) == sha256_file(source), "the sha256 reported is the file's"
    models = [m for m in ModelStore(get_paths(home)).list_models() if m.source == "local-file"]
    assert sorted(m.sha256 for m in models) == sorted(sha256_file(s) for s in sources)
    for model in models:
        assert model.managed and model.path.is_file()
        assert sha256_file(model.path) == model.sha256, "the recorded bytes are on disk"
    assert list((home / "models" / "local" / ".staging").iterdir()) == []


def test_staging_names_are_unique_per_process_and_call(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged: list[Path] = []
    real_copy = staging_module.copy_hashing

    def noting(source: Path, dest: Path, *args: object) -> str:
        staged.append(dest)
        return real_copy(source, dest, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(staging_module, "copy_hashing", noting)
    for seed in (1, 2):
        folder = tmp_path / f"from-{seed}"
        folder.mkdir()
        store.import_file(tiny_model(folder / "model.gguf", seed=seed))
    first, second = staged
    assert first != second
    assert first.parent == second.parent == store.paths.models_dir / "local" / ".staging"
    assert f".{os.getpid()}-" in first.name and first.name.endswith(".incomplete")


def test_stale_staging_files_are_swept_and_live_ones_kept(store: ModelStore) -> None:
    staging = store.paths.models_dir / "local" / ".staging"
    staging.mkdir(parents=True)
    old = time.time() - 3600
    killed = staging / "a.gguf.111-dead.incomplete"
    killed.write_bytes(b"left by a killed import")
    os.utime(killed, (old, old))
    copying = staging / "b.gguf.222-live.incomplete"
    copying.write_bytes(b"being written, slowly")
    os.utime(copying, (old, old))
    fresh = staging / "c.gguf.333-new.incomplete"
    fresh.write_bytes(b"created this instant, not locked yet")
    with copying.open("ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # as an import holds it while copying
        assert sweep_staging(staging) == [killed]
    assert not killed.exists() and copying.exists() and fresh.exists()


def test_registering_a_version_again_returns_the_row_already_there(
    store: ModelStore, tmp_path: Path
) -> None:
    path = tiny_model(tmp_path / "m.gguf")
    digest = sha256_file(path)
    hub = Provenance(source="hub", repo="org/repo", commit="c" * 40, revision="main")
    first = store.register(path, hub, sha256=digest, managed=False)
    second = store.register(path, hub, sha256=digest, managed=False, pinned=True)
    assert second.id == first.id and second.pinned
    local = Provenance(source="local-file")
    third = store.register(path, local, sha256=digest, managed=False)
    fourth = store.register(path, local, sha256=digest, managed=False)
    assert fourth.id == third.id != first.id
    assert len(store.list_models()) == 2


def _model_row(model_id: str, installed_at: str, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": model_id,
        "base_id": model_id.split("@")[0],
        "source": "hub",
        "repo": "org/repo",
        "commit_sha": "c" * 40,
        "revision": "main",
        "filename": "m.gguf",
        "path": f"/models/{model_id}",
        "managed": 1,
        "sha256": "a" * 64,
        "size": 1,
        "mtime_ns": 1,
        "installed_at": installed_at,
        "pinned": 0,
    }
    row.update(fields)
    return row


def test_migration_merges_duplicates_then_forbids_them(paths: object, home: Path) -> None:
    db_path = get_paths(home).registry_db
    conn = sqlite3.connect(db_path, isolation_level=None)
    apply_migrations(conn, registry.MIGRATIONS[:1], what="test", error=RuntimeError)  # type: ignore[arg-type]
    rows = [
        # one Hub version three times: the oldest stays; one later copy was pinned
        _model_row("m@late", "2025-01-03T00:00:00+00:00", pinned=1),
        _model_row("m", "2025-01-01T00:00:00+00:00"),
        _model_row("m@mid", "2025-01-02T00:00:00+00:00"),
        # one local file twice, the second one active
        _model_row(
            "l", "2025-02-01T00:00:00+00:00", source="local-file", repo=None, commit_sha=None,
            sha256="b" * 64, filename="l.gguf",
        ),
        _model_row(
            "l@bbbbbbb", "2025-02-02T00:00:00+00:00", source="local-file", repo=None,
            commit_sha=None, sha256="b" * 64, filename="copy.gguf",
        ),
        # the same bytes from the Hub are another version, and stay
        _model_row("x", "2025-03-01T00:00:00+00:00", commit_sha="d" * 40, sha256="b" * 64),
    ]  # fmt: skip
    for row in rows:
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        conn.execute(f"INSERT INTO models ({names}) VALUES ({marks})", tuple(row.values()))
    conn.execute("INSERT INTO settings (key, value) VALUES ('active_model', 'l@bbbbbbb')")
    conn.close()

    store = ModelStore(get_paths(home))
    models = {m.id: m for m in store.list_models()}
    assert sorted(models) == ["l", "m", "x"]
    assert models["m"].pinned, "a pinned duplicate pins the row that stays"
    assert not models["l"].pinned
    active = store.active()
    assert active is not None and active.id == "l", "the active setting follows the merge"
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == registry.SCHEMA_VERSION == 2
        for row in (_model_row("m@again", "2025-04-01"), rows[4] | {"id": "l@again"}):
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
                raw.execute(f"INSERT INTO models ({names}) VALUES ({marks})", tuple(row.values()))


def test_a_copy_import_of_bytes_already_recorded_keeps_one_file(
    store: ModelStore, tmp_path: Path
) -> None:
    first = store.import_file(tiny_model(tmp_path / "one.gguf"))
    renamed = tmp_path / "other-name.gguf"
    renamed.write_bytes((tmp_path / "one.gguf").read_bytes())
    again = store.import_file(renamed)
    assert again.id == first.id
    files = [p for p in (store.paths.models_dir / "local").rglob("*") if p.is_file()]
    assert files == [first.path]
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.sha256
