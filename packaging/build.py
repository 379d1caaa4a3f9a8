"""Build the double-click app, and smoke-test it: ``make package``, ``make smoke``.

    python packaging/build.py            # build dist/Driftless/ unless it is up to date
    python packaging/build.py --smoke    # ... then run it: window offscreen, starter model,
                                         # a few generated words, exit status 0
    python packaging/build.py --force    # rebuild even if nothing changed
    python packaging/build.py --smoke-cpus   # the smoke test under emulated processors

On Linux x86-64 the bundle carries a portable llama.cpp (packaging/llama_libs.py, built
once into a cache outside the checkout) instead of the venv's native one, and every ELF
file in it is checked against the glibc floor (packaging/glibc_floor.py): a file that
needs a newer glibc fails the build, named with the symbol version it needs.

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
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import glibc_floor  # packaging/ is not a package: its modules are found through sys.path
import llama_libs

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


def input_key(llama: Path | None = None) -> str:
    digest = hashlib.sha256()
    digest.update(f"llama libraries: {llama.name if llama else 'venv'}\n".encode())
    files = [SPEC, ROOT / "pyproject.toml", *sorted((ROOT / "packaging").glob("*.py"))]
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


class BuildFailed(Exception):
    """The build finished but must not be used; the message says why."""


def build(force: bool) -> None:
    llama = llama_libs.ensure() if llama_libs.supported() else None
    key = input_key(llama)
    current = KEY_FILE.read_text().strip() if KEY_FILE.is_file() else ""
    if not force and current == key and executable().is_file():
        print(f"build: {APP_DIR.relative_to(ROOT)} is up to date", file=sys.stderr)
        return
    KEY_FILE.unlink(missing_ok=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)]
    env = dict(os.environ)
    if llama is not None:
        env["DRIFTLESS_LLAMA_LIBS"] = str(llama)
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    if sys.platform.startswith("linux"):
        strip_symbols(APP_DIR)
        check_glibc_floor(APP_DIR)
    KEY_FILE.write_text(key + "\n")
    print(
        f"build: {APP_DIR.relative_to(ROOT)} built in {time.monotonic() - started:.0f} s, "
        f"{folder_size(APP_DIR) / 1e6:.0f} MB",
        file=sys.stderr,
    )


STRIPPED = ("libpython*.so*", "python3.*/lib-dynload/*.so", "llama_cpp/lib/*.so*")
"""Files whose symbol tables nothing needs at run time. numpy's and Qt's libraries are left
as their wheels ship them (auditwheel-patched files are not safe to rewrite)."""


def strip_symbols(app_dir: Path) -> None:
    """``strip --strip-unneeded`` the interpreter, its extension modules and llama.cpp."""
    if shutil.which("strip") is None:
        print("build: strip not found (binutils): symbols left in", file=sys.stderr)
        return
    internal = app_dir / "_internal"
    files = sorted(
        {p.resolve() for pattern in STRIPPED for p in internal.glob(pattern) if p.is_file()}
    )
    before = sum(p.stat().st_size for p in files)
    subprocess.run(["strip", "--strip-unneeded", *map(str, files)], check=True)
    after = sum(p.stat().st_size for p in files)
    print(
        f"build: stripped {len(files)} files, {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB",
        file=sys.stderr,
    )


def check_glibc_floor(folder: Path) -> None:
    """Fail the build when a file in it needs a newer glibc than the stated floor."""
    problems = glibc_floor.violations(folder)
    for problem in problems:
        print(f"build: {problem}", file=sys.stderr)
    if problems:
        floor = glibc_floor.format_version(glibc_floor.GLIBC_FLOOR)
        raise BuildFailed(
            f"{len(problems)} needed symbol version(s) above the glibc {floor} floor; "
            "leave the library out (packaging/driftless.spec) or build it on an older system"
        )
    highest, where = glibc_floor.highest_glibc(folder)
    cxx, cxx_where = glibc_floor.highest_glibc(folder, "GLIBCXX")
    print(
        f"build: runs on glibc {glibc_floor.format_version(glibc_floor.GLIBC_FLOOR)} and "
        f"newer (the files need GLIBC_{glibc_floor.format_version(highest)} at most: "
        f"{where.relative_to(folder) if where else 'none'}; the system's C++ runtime "
        f"GLIBCXX_{glibc_floor.format_version(cxx)}: "
        f"{cxx_where.relative_to(folder) if cxx_where else 'none'})",
        file=sys.stderr,
    )


EMULATED_CPU_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE")


def smoke(
    emulator: list[str] | None = None, capture: bool = False, app: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the build (or the executable ``app`` of an unpacked download) on a fresh data
    folder, offline and offscreen (under ``emulator``)."""
    app = app or executable()
    with tempfile.TemporaryDirectory(prefix="driftless-smoke-") as home:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "HF_HUB_OFFLINE": "1",
            "HF_ENDPOINT": "http://127.0.0.1:9",  # a stray request fails at once
        }
        env.pop("PYTHONPATH", None)  # the build must not borrow this checkout's modules
        env.pop("VIRTUAL_ENV", None)
        timeout = SMOKE_TIMEOUT
        if emulator:
            # Settings that name this machine's processor (OPENBLAS_CORETYPE=Haswell makes
            # NumPy's OpenBLAS run AVX2 kernels) do not hold on the emulated one: a real
            # Nehalem user has none, and with them NumPy's import dies of SIGILL there.
            for name in EMULATED_CPU_UNSET:
                env.pop(name, None)
            env["DRIFTLESS_SMOKE_TIMEOUT"] = str(EMULATED_SMOKE_TIMEOUT - 60)
            env.update(restarted_bootloader_env(env, app))
            timeout = EMULATED_SMOKE_TIMEOUT
        command = [*(emulator or []), str(app), "--home", home, "--smoke-test"]
        print(f"smoke: {' '.join(command)}", file=sys.stderr)
        try:
            return subprocess.run(
                command, env=env, cwd=home, timeout=timeout, capture_output=capture, text=True
            )
        except subprocess.TimeoutExpired:
            print(f"smoke: FAILED: no exit within {timeout} s", file=sys.stderr)
            return subprocess.CompletedProcess(command, 1, "", f"no exit within {timeout} s")


# --- the smoke test on other processors ---------------------------------------------------
# qemu-user runs the build on an emulated processor (TCG: up to AVX2, no AVX-512), so one
# machine shows which CPU kernels each kind of processor gets and that none dies of SIGILL.
# Its child processes (the load probe) run on the real processor.
QEMU = "qemu-x86_64"
EMULATED_SMOKE_TIMEOUT = 900
CPUS = (
    # (label, qemu -cpu model or None for the real processor, must run). Others on request
    # (--smoke-cpus max): qemu 7.2's "max" gets the same kernels as Haswell, as slowly.
    ("Nehalem (x86-64-v2, the floor)", "Nehalem", True),
    ("Haswell (AVX2)", "Haswell", True),
    ("this machine", None, True),
    ("qemu64 (below the floor)", "qemu64", False),
)
KERNELS_LINE = "smoke: llama.cpp CPU kernels: "
FLOOR_MESSAGE = "needs a processor with the x86-64-v2 instructions"


def restarted_bootloader_env(env: dict[str, str], app: Path | None = None) -> dict[str, str]:
    """What PyInstaller's Linux bootloader sets before it re-executes itself, set up front.

    A one-folder app's bootloader puts _internal/ on LD_LIBRARY_PATH and then exec()s its
    own executable; qemu-user does not follow an exec (without binfmt_misc), so the app
    itself would run on the real processor. With the variables the restarted process
    finds (PyInstaller 6: bootloader/src/pyi_main.c), it goes straight on to Python.
    The smoke test's kernels line shows when this stops working: Nehalem gets "sse42".
    """
    app = app or executable()
    internal = str(app.parent / "_internal")
    library_path = env.get("LD_LIBRARY_PATH")
    extra = {
        "_PYI_ARCHIVE_FILE": str(app),
        "_PYI_PARENT_PROCESS_LEVEL": "-1",  # PYI_PROCESS_LEVEL_PARENT_NEEDS_RESTART
        "LD_LIBRARY_PATH": f"{internal}:{library_path}" if library_path else internal,
    }
    if library_path:
        extra["LD_LIBRARY_PATH_ORIG"] = library_path
    return extra


def ensure_qemu() -> str:
    """The qemu-x86_64 command, installed with apt when missing (Debian and Ubuntu)."""
    found = shutil.which(QEMU)
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is not None and shutil.which("apt-get"):
        print("smoke-cpus: installing qemu-user (apt-get)", file=sys.stderr)

        def apt(*arguments: str) -> bool:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            command = [*sudo, "apt-get", "-qq", *arguments]
            return subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode == 0

        install = ("install", "-y", "--no-install-recommends", "qemu-user")
        if not apt(*install) and apt("update"):  # a fresh system may have no package lists
            apt(*install)
        found = shutil.which(QEMU)
    if not found:
        raise BuildFailed(f"{QEMU} is needed: install the qemu-user package")
    return found


def smoke_cpus(models: list[str] | None = None) -> int:
    """The smoke test on each processor of CPUS (or those named); a table, and 0 if all
    ran as they must: the ones above the floor pass, the one below refuses in a sentence."""
    qemu = ensure_qemu()
    failed = 0
    rows = []
    known = {model or "host": (label, model, must_run) for label, model, must_run in CPUS}
    chosen = [known.get(name, (f"qemu {name}", name, True)) for name in models or known]
    for label, model, must_run in chosen:
        emulator = [qemu, "-cpu", model] if model else None
        started = time.monotonic()
        done = smoke(emulator, capture=True)
        seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        kernels = next(
            (line.removeprefix(KERNELS_LINE) for line in done.stdout.splitlines()
             if line.startswith(KERNELS_LINE)),
            "-",
        )  # fmt: skip
        if must_run:
            ok = done.returncode == 0 and "smoke: ok" in done.stdout
            verdict = "passed" if ok else f"FAILED (exit status {done.returncode})"
        else:
            ok = (
                done.returncode == 1
                and FLOOR_MESSAGE in done.stderr
                and "Illegal instruction" not in output
            )
            verdict = "refused, as it must" if ok else f"FAILED (exit status {done.returncode})"
        if not ok:
            failed += 1
            print(output, file=sys.stderr)
        elif not must_run:
            print(done.stderr.strip().splitlines()[-1], file=sys.stderr)
        rows.append(f"  {label:34} {verdict:22} kernels: {kernels:12} {seconds:5.0f} s")
        print(f"smoke-cpus: {rows[-1].strip()}", file=sys.stderr)
    print("smoke-cpus: the packaged smoke test per processor", file=sys.stderr)
    for row in rows:
        print(row, file=sys.stderr)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--smoke", action="store_true", help="then smoke-test the build")
    parser.add_argument(
        "--smoke-cpus",
        nargs="*",
        metavar="MODEL",
        help="then smoke-test it under emulated processors (all, or these qemu -cpu models; "
        "'host' is this machine's own)",
    )
    args = parser.parse_args()
    with build_lock():
        try:
            build(args.force)
        except subprocess.CalledProcessError as exc:
            print(f"build: PyInstaller failed (exit status {exc.returncode})", file=sys.stderr)
            return 1
        except BuildFailed as exc:
            print(f"build: FAILED: {exc}", file=sys.stderr)
            return 1
        if args.smoke_cpus is not None:
            try:
                return smoke_cpus(args.smoke_cpus)
            except BuildFailed as exc:
                print(f"smoke-cpus: FAILED: {exc}", file=sys.stderr)
                return 1
        return smoke().returncode if args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
