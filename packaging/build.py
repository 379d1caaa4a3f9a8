"""Build the double-click app, and smoke-test it: ``make package``, ``make smoke``.

    python packaging/build.py            # build dist/Driftless/ unless it is up to date
    python packaging/build.py --smoke    # ... then run it: window offscreen, starter model,
                                         # a few generated words, exit status 0
    python packaging/build.py --force    # rebuild even if nothing changed

A build is up to date when its inputs hash the same as last time: the app's sources,
resources/, the spec, pyproject.toml, the Python version and every installed package's
version. The hash is kept in build/package.key; a lock file lets two test runs share one
build instead of overwriting each other's. Runs on Linux, Windows and macOS.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "driftless.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
KEY_FILE = ROOT / "build" / "package.key"
LOCK_FILE = ROOT / "build" / "package.lock"
APP_DIR = DIST / ("Driftless.app" if sys.platform == "darwin" else "Driftless")
SMOKE_TIMEOUT = 300


def executable() -> Path:
    """The console executable of the build (on Windows and macOS, the command-line one)."""
    if sys.platform == "win32":
        return APP_DIR / "driftless-cli.exe"
    if sys.platform == "darwin":
        return APP_DIR / "Contents" / "MacOS" / "driftless-cli"
    return APP_DIR / "driftless"


def input_key() -> str:
    digest = hashlib.sha256()
    files = [SPEC, ROOT / "pyproject.toml"]
    files += sorted(p for p in (ROOT / "app").rglob("*.py") if "__pycache__" not in p.parts)
    files += sorted(p for p in (ROOT / "resources").rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    installed = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
    )
    digest.update("\n".join([sys.version, *installed]).encode())
    return digest.hexdigest()


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One build or smoke run at a time in this checkout."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a+b") as handle:
        if os.name == "posix":
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def build(force: bool) -> None:
    key = input_key()
    current = KEY_FILE.read_text().strip() if KEY_FILE.is_file() else ""
    if not force and current == key and executable().is_file():
        print(f"build: {APP_DIR.relative_to(ROOT)} is up to date", file=sys.stderr)
        return
    KEY_FILE.unlink(missing_ok=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)]
    subprocess.run(command, cwd=ROOT, check=True)
    KEY_FILE.write_text(key + "\n")
    print(
        f"build: {APP_DIR.relative_to(ROOT)} built in {time.monotonic() - started:.0f} s, "
        f"{folder_size(APP_DIR) / 1e6:.0f} MB",
        file=sys.stderr,
    )


def smoke() -> int:
    """Run the build on a fresh data folder, offline and offscreen; its exit status."""
    with tempfile.TemporaryDirectory(prefix="driftless-smoke-") as home:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "HF_HUB_OFFLINE": "1",
            "HF_ENDPOINT": "http://127.0.0.1:9",  # a stray request fails at once
        }
        env.pop("PYTHONPATH", None)  # the build must not borrow this checkout's modules
        env.pop("VIRTUAL_ENV", None)
        command = [str(executable()), "--home", home, "--smoke-test"]
        print(f"smoke: {' '.join(command)}", file=sys.stderr)
        try:
            done = subprocess.run(command, env=env, cwd=home, timeout=SMOKE_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"smoke: FAILED: no exit within {SMOKE_TIMEOUT} s", file=sys.stderr)
            return 1
        return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--smoke", action="store_true", help="then smoke-test the build")
    args = parser.parse_args()
    with build_lock():
        try:
            build(args.force)
        except subprocess.CalledProcessError as exc:
            print(f"build: PyInstaller failed (exit status {exc.returncode})", file=sys.stderr)
            return 1
        return smoke() if args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
