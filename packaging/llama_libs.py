"""llama.cpp's libraries for the packaged app, built to run on any x86-64-v2 CPU.

The venv's llama-cpp-python is compiled with ``-march=native``: fast on the machine that
built it, "Illegal instruction" on an older one. The packaged app carries its own build of
the same llama.cpp (the one vendored in the installed llama-cpp-python's sdist) with
``GGML_NATIVE=OFF GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON``: the CPU kernels are
separate ``libggml-cpu-<variant>.so`` files and ggml loads, at run time, the best one the
CPU can execute.

    python packaging/llama_libs.py      # build (or find) them; prints their folder

Built once per llama-cpp-python version, build flags and compiler, into a cache folder
outside the checkout (``$DRIFTLESS_BUILD_CACHE``, else ``$XDG_CACHE_HOME/driftless-build``,
else ``~/.cache/driftless-build``), so a clean clone rebuilds only when that is absent.
Linux x86-64 only: elsewhere the packaged app keeps the venv's libraries.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "llama-cpp-python"

# The CPU kernels built, by llama.cpp's names (ggml/src/CMakeLists.txt). GGML_CPU_ALL_VARIANTS
# defines 14; each takes a few minutes of a CI machine's two cores, so those that add little
# over a neighbour are left out and their CPUs load that neighbour instead:
#   x64 (no SSE4.2): below the app's floor, where Qt and NumPy cannot run either;
#   ivybridge, piledriver (AVX with F16C/FMA, no AVX2) -> sandybridge;
#   alderlake (AVX-VNNI) -> haswell: VNNI speeds up int8 dot products a little;
#   cannonlake, cascadelake -> skylakex; cooperlake, zen4, sapphirerapids -> icelake:
#   what they add (BF16, AMX) serves bf16 models and server chips, not small quantised ones.
ALL_X86_VARIANTS = (
    "x64", "sse42", "sandybridge", "ivybridge", "piledriver", "haswell", "skylakex",
    "cannonlake", "cascadelake", "icelake", "cooperlake", "zen4", "alderlake", "sapphirerapids",
)  # fmt: skip
VARIANTS = (
    "sse42",  # the floor: x86-64-v2 (Nehalem, 2008)
    "sandybridge",  # AVX
    "haswell",  # AVX2, FMA, F16C, BMI2: x86-64-v3, most laptops since 2013, every Zen
    "skylakex",  # AVX-512 F/CD/VL/DQ/BW
    "icelake",  # + VBMI, VNNI (Ice Lake and later Intel, Zen 4 and 5)
)
CMAKE_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAVA_BUILD=OFF",  # libmtmd (images) is not used by Driftless
    "-DGGML_NATIVE=OFF",
    "-DGGML_BACKEND_DL=ON",
    "-DGGML_CPU_ALL_VARIANTS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
)
TARGETS = ("llama", "ggml", "ggml-base", *(f"ggml-cpu-{v}" for v in VARIANTS))
VARIANT_LINE = re.compile(r"^(\s*)ggml_add_cpu_backend_variant\(([\w.]+)\b", re.MULTILINE)
MANIFEST = "build.json"


def supported() -> bool:
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def cache_root() -> Path:
    if override := os.environ.get("DRIFTLESS_BUILD_CACHE"):
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driftless-build"


def tool_version(command: str) -> str:
    found = shutil.which(command)
    if found is None:
        raise SystemExit(f"llama_libs: {command} is needed to build llama.cpp; install it.")
    done = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[0].strip()


def build_key(version: str) -> str:
    """What the libraries depend on: the sources' version, the flags, the compilers."""
    inputs = {
        "version": version,
        "cmake_args": CMAKE_ARGS,
        "targets": TARGETS,
        "cc": tool_version(os.environ.get("CC", "cc")),
        "cxx": tool_version(os.environ.get("CXX", "c++")),
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return f"llama-cpp-python-{version}-{digest[:12]}"


@contextlib.contextmanager
def cache_lock(root: Path) -> Iterator[None]:
    """One build at a time per cache, even from several checkouts."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as handle:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def download_sdist(version: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(into.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    # Only this package as source: ":all:" would also build its build tools from source
    # (cmake bootstraps for half an hour on a machine without it).
    command += ["--no-binary", PACKAGE, "--no-cache-dir", f"{PACKAGE}=={version}", "-d", str(into)]
    subprocess.run(command, check=True)
    return next(into.glob(f"llama_cpp_python-{version}.tar.gz"))


def keep_variants(source: Path) -> None:
    """Leave the unwanted CPU variants out of llama.cpp's list (the ``ggml`` target
    depends on every variant defined, so choosing build targets is not enough)."""
    path = source / "vendor" / "llama.cpp" / "ggml" / "src" / "CMakeLists.txt"
    text = path.read_text(encoding="utf-8")
    found = {match.group(2) for match in VARIANT_LINE.finditer(text)}
    if not set(ALL_X86_VARIANTS) <= found:
        raise SystemExit(f"llama_libs: {path} does not define the x86 CPU variants expected")

    def drop(match: re.Match[str]) -> str:
        if match.group(2) in ALL_X86_VARIANTS and match.group(2) not in VARIANTS:
            return f"{match.group(1)}# (left out by Driftless) {match.group(0).lstrip()}"
        return match.group(0)

    path.write_text(VARIANT_LINE.sub(drop, text), encoding="utf-8")


def extract(sdist: Path, into: Path) -> None:
    """Unpacks the sdist, refusing members that would land outside ``into`` (absolute or
    ``..`` paths and links) and device files."""
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            try:
                archive.extractall(into, filter="data")
            except tarfile.FilterError as refused:
                raise SystemExit(f"llama_libs: {sdist.name}: {refused}") from None
            return
        # Python 3.11 before 3.11.4 (Debian 12's 3.11.2) has no filter: the same check by hand
        for member in archive.getmembers():
            target = (into / member.name).resolve()
            link = Path(member.linkname) if member.issym() or member.islnk() else None
            outside = link is not None and (link.is_absolute() or ".." in link.parts)
            if not target.is_relative_to(into.resolve()) or member.isdev() or outside:
                raise SystemExit(f"llama_libs: {sdist.name} holds {member.name!r}")
        archive.extractall(into)


def compile_libraries(sdist: Path, out: Path, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="llama-build-", dir=out.parent) as scratch:
        extract(sdist, Path(scratch))
        source = next(Path(scratch).glob("llama_cpp_python-*"))
        keep_variants(source)
        build = Path(scratch) / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        jobs = str(os.cpu_count() or 2)
        with open(log, "w") as sink:
            steps = [
                ["cmake", "-S", str(source), "-B", str(build), *generator, *CMAKE_ARGS],
                ["cmake", "--build", str(build), "-j", jobs, "--target", *TARGETS],
            ]
            for step in steps:
                sink.write("$ " + " ".join(step) + "\n")
                sink.flush()
                subprocess.run(step, stdout=sink, stderr=subprocess.STDOUT, check=True)
        out.mkdir()
        if (build / ".ninja_log").is_file():  # each step's time, for the next trim
            shutil.copy2(build / ".ninja_log", out / "ninja_log")
        for path in sorted((build / "bin").iterdir()):
            if path.name.startswith("lib") and ".so" in path.name:
                shutil.copy2(path, out / path.name, follow_symlinks=False)
        for path in out.glob("libggml-cpu-*.so"):
            set_runpath_to_origin(path)


def set_runpath_to_origin(path: Path) -> bool:
    """Point an ELF file's RUNPATH at its own folder, in place, as ``chrpath -r`` does.

    The CPU variants are linked with the build folder as their RUNPATH; in the bundle that
    would be a path from the build machine. ``$ORIGIN`` is never longer than it, so the
    string is overwritten (NUL-padded) without moving anything. True if it was changed.
    """
    data = bytearray(path.read_bytes())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    changed = False
    for header in headers:
        if header[1] != 6:  # SHT_DYNAMIC
            continue
        strings = headers[header[6]][4]
        for offset in range(header[4], header[4] + header[5], 16):
            tag, value = struct.unpack_from("<qQ", data, offset)
            if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                start = strings + value
                end = data.index(b"\0", start)
                if bytes(data[start:end]) != b"$ORIGIN" and end - start >= len(b"$ORIGIN"):
                    data[start:end] = b"$ORIGIN".ljust(end - start, b"\0")
                    changed = True
    if changed:
        path.write_bytes(bytes(data))
    return changed


def ensure(version: str | None = None) -> Path:
    """The folder holding the portable libraries, built first when not cached."""
    version = version or importlib.metadata.version(PACKAGE)
    root = cache_root()
    final = root / build_key(version)
    with cache_lock(root):
        if (final / MANIFEST).is_file():
            for path in final.glob("libggml-cpu-*.so"):  # a cache from before this fix
                set_runpath_to_origin(path)
            return final
        started = time.monotonic()
        print(
            f"llama_libs: building llama.cpp {version} for any x86-64-v2 CPU "
            f"({len(VARIANTS)} CPU variants) into {final}; this takes a while on few cores",
            file=sys.stderr,
        )
        sdist = download_sdist(version, root / "sdist")
        staging = root / (final.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        log = root / (final.name + ".log")
        try:
            compile_libraries(sdist, staging, log)
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"llama_libs: the build failed ({exc}); see {log}") from exc
        seconds = time.monotonic() - started
        manifest = {"version": version, "variants": VARIANTS, "cmake_args": CMAKE_ARGS}
        manifest["build_seconds"] = round(seconds)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        print(f"llama_libs: built in {seconds / 60:.1f} min", file=sys.stderr)
        return final


if __name__ == "__main__":
    print(ensure())
