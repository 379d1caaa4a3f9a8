"""A data folder this process cannot write: the commands that only read still work.

The real thing, not a fake: as root (the test machine), the folder is mounted read-only
in a private mount namespace (``unshare -m``), where even root cannot write; as another
user, its write permission is taken away.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import StoreError
from app.core.models.registry import open_registry
from app.core.models.starter import STARTER, ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths

ROOT = Path(__file__).resolve().parents[3]


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    done = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return done.returncode == 0


def run_read_only(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``driftless --home HOME ARGV`` in a real process that cannot write to ``home``."""
    command = [sys.executable, "-m", "app", "--home", str(home), *argv]
    if os.geteuid() != 0:
        folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o500)
        try:
            return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        finally:
            for folder in folders:
                folder.chmod(0o700)
    if not _can_mount_read_only():
        pytest.skip("running as root without unshare/mount: cannot make a folder read-only")
    where = shlex.quote(str(home))
    script = (
        f"mount --bind {where} {where} && mount -o remount,bind,ro {where} {where} && "
        f"touch {where}/probe 2>/dev/null && echo 'the folder is writable' >&2 && exit 99; "
        f"exec {shlex.join(command)}"
    )
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )


def snapshot(home: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(home.rglob("*"))
    }


@pytest.fixture
def closed_home(home: Path) -> Path:
    """A data folder with the starter registered, closed cleanly (no -wal or -shm left)."""
    store = ModelStore(get_paths(home))
    assert ensure_starter(store) is not None
    store.close()
    assert not list(home.glob("*-wal")) and not list(home.glob("*-shm"))
    return home


def test_list_verify_and_lock_export_read_a_folder_they_cannot_write(
    closed_home: Path, tmp_path: Path
) -> None:
    before = snapshot(closed_home)
    listed = run_read_only(closed_home, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "smollm2-135m-instruct-q4_1" in listed.stdout
    assert "cannot be written here" in listed.stderr, "the output says it is read-only"
    assert "immutable" in listed.stderr, "and that the registry was read as a fixed file"

    verified = run_read_only(closed_home, "models", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "smollm2-135m-instruct-q4_1: OK" in verified.stderr

    lock = tmp_path / "driftless.lock"
    exported = run_read_only(closed_home, "models", "lock", "export", str(lock))
    assert exported.returncode == 0, exported.stderr
    assert STARTER.sha256 in lock.read_text()

    changing = run_read_only(closed_home, "models", "pin", "smollm2-135m-instruct-q4_1")
    assert changing.returncode == 1
    assert "Traceback" not in changing.stderr and "aside" not in changing.stderr
    assert snapshot(closed_home) == before, "nothing in the folder was touched"


def test_read_only_registry_reads_writes_nothing_and_never_advises_discarding(
    closed_home: Path,
) -> None:
    paths = get_paths(closed_home)
    store = ModelStore(paths, read_only=True)
    (model,) = store.list_models()
    assert store.verify(model.id).ok
    with pytest.raises(StoreError, match=r"open read-only.*nothing was changed"):
        store.pin(model.id)
    store.close()
    assert ModelStore(paths).get(model.id).verified_at == model.verified_at, "not recorded"

    paths.registry_db.write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000)  # unreadable
    with pytest.raises(StoreError) as caught:
        ModelStore(paths, read_only=True).list_models()
    assert "without write access" in str(caught.value) and "aside" not in str(caught.value)


def test_read_only_reads_an_older_schema_and_a_missing_registry(
    closed_home: Path, tmp_path: Path
) -> None:
    paths = get_paths(closed_home)
    with sqlite3.connect(paths.registry_db) as conn:
        conn.execute("DROP INDEX models_version")
        conn.execute("DROP INDEX models_local_sha256")
        conn.execute("PRAGMA user_version = 1")
    assert len(ModelStore(paths, read_only=True).list_models()) == 1
    assert open_registry(paths.registry_db, read_only=True).access in ("read-only", "immutable")

    nothing = ModelStore(get_paths(tmp_path / "never-used"), read_only=True)
    assert nothing.list_models() == []
    assert not (tmp_path / "never-used").exists(), "reading creates nothing"


def test_a_full_disk_still_lists_and_verifies(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not _can_mount_read_only():
        pytest.skip("needs a private mount namespace to fill a small disk")
    disk = tmp_path / "small-disk"
    disk.mkdir()
    home = shlex.quote(str(disk / "h"))
    driftless = shlex.join([sys.executable, "-m", "app"])
    script = (
        f"mount -t tmpfs -o size=3m tmpfs {shlex.quote(str(disk))} && "
        f"{driftless} --home {home} models list >/dev/null 2>&1 && "
        f"(dd if=/dev/zero of={shlex.quote(str(disk / 'fill'))} bs=4k 2>/dev/null; true) && "
        f"{driftless} --home {home} models list && {driftless} --home {home} models verify"
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "smollm2-135m-instruct-q4_1" in done.stdout
    assert "is read without changing anything" in done.stderr
    assert "smollm2-135m-instruct-q4_1: OK" in done.stderr
    assert "aside" not in done.stderr
