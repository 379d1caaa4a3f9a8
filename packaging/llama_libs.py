"""llama.cpp's libraries for the packaged app, built to run on any x86-64-v2 CPU.

The venv's llama-cpp-python is compiled with ``-march=native``: fast on the machine that
built it, "Illegal instruction" on an older one. The packaged app carries its own build of
the same llama.cpp (the one vendored in the installed llama-cpp-python's sdist) with
``GGML_NATIVE=OFF GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON``: the CPU kernels are
separate ``libggml-cpu-<variant>.so`` files and ggml loads, at run time, the best one the
CPU can execute. Where the Vulkan build tools are installed (``glslc``, ``libvulkan-dev``,
``spirv-headers``: packaging/system-deps.sh) the Vulkan backend is one more of these
dynamically loaded files, ``libggml-vulkan.so``: ggml loads it at run time when the machine
has a Vulkan loader (``libvulkan.so.1``) and keeps to the CPU otherwise, so one bundle serves
both. Without those tools the build is CPU-only, said in a sentence.

The two parts are built and cached apart, then put together in a folder of their own:
with ``GGML_BACKEND_DL`` nothing outside the Vulkan library depends on ``GGML_VULKAN``
(ggml defines ``GGML_USE_VULKAN`` only for a backend linked in), so the CPU libraries of a
CPU-only build are the same files, and a new shader compiler rebuilds only the Vulkan part
(its shaders are most of an hour on two busy cores; the CPU kernels about 20 minutes).

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
# The Vulkan backend, when its build tools are there: built first (its compile is the one
# most likely to fail on old headers, so it fails before the CPU kernels' long compile).
VULKAN_CMAKE_ARGS = ("-DGGML_VULKAN=ON",)
VULKAN_TARGET = "ggml-vulkan"
VULKAN_LIBRARY = "libggml-vulkan.so"
VULKAN_HEADER_DIRS = (Path("/usr/include"), Path("/usr/local/include"))
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


def vulkan_header_version(include_dirs: tuple[Path, ...] = VULKAN_HEADER_DIRS) -> str | None:
    """The installed Vulkan headers' version (``1.3.239``), or None when there are none."""
    roots = list(include_dirs)
    if sdk := os.environ.get("VULKAN_SDK"):
        roots.insert(0, Path(sdk) / "include")
    for root in roots:
        header = root / "vulkan" / "vulkan_core.h"
        if not header.is_file():
            continue
        text = header.read_text(encoding="utf-8", errors="replace")
        patch = re.search(r"^#define VK_HEADER_VERSION (\d+)", text, re.MULTILINE)
        complete = re.search(
            r"^#define VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION\(0, (\d+), (\d+),",
            text,
            re.MULTILINE,
        )
        if patch and complete:
            return f"{complete.group(1)}.{complete.group(2)}.{patch.group(1)}"
    return None


def vulkan_toolchain() -> tuple[dict[str, str] | None, str]:
    """What the Vulkan backend is built with, or None and the sentence saying what is missing.

    Needs glslc (the shader compiler), the Vulkan headers and loader (libvulkan-dev) and the
    SPIR-V headers' CMake package (spirv-headers). ``DRIFTLESS_VULKAN=0`` leaves it out.
    """
    if os.environ.get("DRIFTLESS_VULKAN", "1") == "0":
        return None, "DRIFTLESS_VULKAN=0 leaves the Vulkan backend out"
    missing = []
    glslc = shutil.which("glslc")
    if glslc is None:
        missing.append("glslc")
    headers = vulkan_header_version()
    if headers is None:
        missing.append("libvulkan-dev")
    spirv = [
        Path(prefix) / "share" / "cmake" / "SPIRV-Headers" / "SPIRV-HeadersConfig.cmake"
        for prefix in ("/usr", "/usr/local", os.environ.get("VULKAN_SDK", "/nonexistent"))
    ]
    if not any(path.is_file() for path in spirv):
        missing.append("spirv-headers")
    if missing or glslc is None or headers is None:
        return None, (
            f"the Vulkan backend is left out: {', '.join(missing)} "
            "(packaging/system-deps.sh installs them) are not installed"
        )
    return {"glslc": tool_version(glslc), "vulkan_headers": headers}, "with the Vulkan backend"


def build_key(version: str) -> str:
    """What the CPU libraries depend on: the sources' version, the flags, the compilers."""
    inputs = {
        "version": version,
        "cmake_args": CMAKE_ARGS,
        "targets": TARGETS,
        "cc": tool_version(os.environ.get("CC", "cc")),
        "cxx": tool_version(os.environ.get("CXX", "c++")),
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return f"llama-cpp-python-{version}-{digest[:12]}"


def vulkan_key(version: str, vulkan: dict[str, str]) -> str:
    """What the Vulkan library depends on: the CPU build's inputs (it is built beside them),
    its own flag, the shader compiler and the Vulkan headers."""
    inputs = {
        "cpu": build_key(version),
        "cmake_args": VULKAN_CMAKE_ARGS,
        "patches": VULKAN_PATCHES,
        **vulkan,
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return f"llama-cpp-python-{version}-vulkan-{digest[:12]}"


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


LAYER_SETTINGS = re.compile(
    r"^    std::vector<vk::LayerSettingEXT> settings = \{.*?&layer_setting_info\);\n",
    re.MULTILINE | re.DOTALL,
)
VULKAN_PATCHES = ("layer-settings-need-headers-1.3.261",)


def allow_older_vulkan_headers(source: Path) -> bool:
    """Let ggml-vulkan.cpp build with the Vulkan headers of Debian 12 and Ubuntu 22.04
    (1.3.239 and 1.3.204). It fills a VK_EXT_layer_settings struct (headers 1.3.261 and
    later) that only its validation-layer debug build uses; with older headers the
    instance is made without it, as it is in a release build anyway. True if patched."""
    path = source / "vendor" / "llama.cpp" / "ggml" / "src" / "ggml-vulkan" / "ggml-vulkan.cpp"
    text = path.read_text(encoding="utf-8")
    found = LAYER_SETTINGS.search(text)
    if found is None:
        return False
    fallback = (
        "#if VK_HEADER_VERSION >= 261\n"
        + found.group(0)
        + "#else  // (Driftless: older Vulkan headers, no VK_EXT_layer_settings)\n"
        + "    GGML_UNUSED(enable_best_practice);\n"
        + "    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, "
        + "&app_info, layers, extensions);\n"
        + "#endif\n"
    )
    path.write_text(text[: found.start()] + fallback + text[found.end() :], encoding="utf-8")
    return True


def compile_libraries(sdist: Path, out: Path, log: Path, vulkan: bool = False) -> None:
    """Build the CPU libraries (TARGETS) into ``out``; ``vulkan``: the Vulkan library alone."""
    with tempfile.TemporaryDirectory(prefix="llama-build-", dir=out.parent) as scratch:
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(scratch, filter="data")
            else:  # Python 3.11 before 3.11.4 (Debian 12's 3.11.2): the same check by hand
                for member in archive.getmembers():
                    target = (Path(scratch) / member.name).resolve()
                    link = Path(member.linkname) if member.issym() or member.islnk() else None
                    outside = link is not None and (link.is_absolute() or ".." in link.parts)
                    if (
                        not target.is_relative_to(Path(scratch).resolve())
                        or member.isdev()
                        or outside
                    ):
                        raise SystemExit(f"llama_libs: {sdist.name} holds {member.name!r}")
                archive.extractall(scratch)
        source = next(Path(scratch).glob("llama_cpp_python-*"))
        keep_variants(source)
        if vulkan:
            allow_older_vulkan_headers(source)
        build = Path(scratch) / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        jobs = str(os.cpu_count() or 2)
        extra = VULKAN_CMAKE_ARGS if vulkan else ()
        with open(log, "w") as sink:
            configure = ["cmake", "-S", str(source), "-B", str(build), *generator]
            steps = [[*configure, *CMAKE_ARGS, *extra]]
            compile_ = ["cmake", "--build", str(build), "-j", jobs, "--target"]
            steps.append([*compile_, *((VULKAN_TARGET,) if vulkan else TARGETS)])
            for step in steps:
                sink.write("$ " + " ".join(step) + "\n")
                sink.flush()
                subprocess.run(step, stdout=sink, stderr=subprocess.STDOUT, check=True)
        out.mkdir()
        if (build / ".ninja_log").is_file():  # each step's time, for the next trim
            shutil.copy2(build / ".ninja_log", out / "ninja_log")
        for path in sorted((build / "bin").iterdir()):
            wanted = path.name == VULKAN_LIBRARY if vulkan else ".so" in path.name
            if path.name.startswith("lib") and wanted:
                shutil.copy2(path, out / path.name, follow_symlinks=False)
        for path in [*out.glob("libggml-cpu-*.so"), *out.glob(VULKAN_LIBRARY)]:
            set_runpath_to_origin(path)
        if vulkan and not (out / VULKAN_LIBRARY).is_file():
            raise SystemExit(f"llama_libs: the build made no {VULKAN_LIBRARY}; see {log}")


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
    """The folder holding the portable libraries, built first when not cached: the CPU
    libraries, with the Vulkan backend beside them where its build tools are installed."""
    version = version or importlib.metadata.version(PACKAGE)
    root = cache_root()
    vulkan, why = vulkan_toolchain()
    with cache_lock(root):
        cpu = _built(root, build_key(version), version, vulkan=None)
        if vulkan is None:
            print(f"llama_libs: CPU only: {why}", file=sys.stderr)
            return cpu
        gpu = _built(root, vulkan_key(version, vulkan), version, vulkan=vulkan)
        final = root / f"{cpu.name}+{gpu.name.rsplit('-', 1)[-1]}"
        if not (final / MANIFEST).is_file():
            staging = root / (final.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(cpu, staging, symlinks=True)
            shutil.copy2(gpu / VULKAN_LIBRARY, staging / VULKAN_LIBRARY)
            manifest = json.loads((cpu / MANIFEST).read_text())
            manifest["vulkan"] = json.loads((gpu / MANIFEST).read_text())
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
        return final


def _built(root: Path, key: str, version: str, vulkan: dict[str, str] | None) -> Path:
    """The cached build ``key`` (the CPU libraries, or the Vulkan one), built if missing."""
    final = root / key
    if (final / MANIFEST).is_file():
        for path in [*final.glob("libggml-cpu-*.so"), *final.glob(VULKAN_LIBRARY)]:
            set_runpath_to_origin(path)  # a cache from before this fix
        return final
    started = time.monotonic()
    what = (
        "the Vulkan backend (its shaders take longest)"
        if vulkan
        else f"for any x86-64-v2 CPU ({len(VARIANTS)} CPU variants)"
    )
    print(
        f"llama_libs: building llama.cpp {version} {what} into {final}; "
        "this takes a while on few cores",
        file=sys.stderr,
    )
    sdist = download_sdist(version, root / "sdist")
    staging = root / (final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    log = root / (final.name + ".log")
    try:
        compile_libraries(sdist, staging, log, vulkan=vulkan is not None)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"llama_libs: the build failed ({exc}); see {log}") from exc
    seconds = time.monotonic() - started
    manifest: dict[str, object] = {"version": version, "cmake_args": CMAKE_ARGS}
    if vulkan is None:
        manifest["variants"] = VARIANTS
    else:
        manifest.update(vulkan, vulkan_cmake_args=VULKAN_CMAKE_ARGS)
    manifest["build_seconds"] = round(seconds)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    print(f"llama_libs: built in {seconds / 60:.1f} min", file=sys.stderr)
    return final


if __name__ == "__main__":
    print(ensure())
