"""The double-click app: the frozen build works, and its desktop files say the same thing.

The frozen build is made by ``packaging/build.py`` (``make package``), which rebuilds
only when the app's sources, resources, spec or installed packages changed (about 70 s
on two cores; otherwise a second), then started offscreen on a fresh data folder with
``--smoke-test``: the starter model is found inside the bundle, loaded by llama.cpp
from the bundled libraries, and a few words are generated. On Linux x86-64 those are the
portable build (``packaging/llama_libs.py``, cached outside the checkout; the first build
on a clean machine compiles it), every ELF file is within the glibc floor, and the same
smoke test runs under emulated processors: the x86-64-v2 floor and one below it.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from app import APP_ID, APP_NAME, __version__
from app.core.models.starter import STARTER

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
COMMAND = next(iter(PYPROJECT["project"]["scripts"]))  # "driftless"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"driftless_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_build_script() -> ModuleType:
    return load_script("build")


# --- the frozen build ---------------------------------------------------------------------


@pytest.mark.slow
def test_frozen_build_starts_offline_loads_the_starter_and_generates(tmp_path: Path) -> None:
    build = load_build_script()
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=7200,  # on a clean machine, llama.cpp's portable build first (llama_libs.py)
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "smoke: starter model smollm2-135m-instruct-q4_1 registered" in done.stdout, output
    assert "smoke: loaded smollm2-135m-instruct-q4_1" in done.stdout, output
    reply = [line for line in done.stdout.splitlines() if line.startswith("smoke: reply: ")]
    assert reply and reply[0].removeprefix("smoke: reply: ").strip(), output
    assert "smoke: ok" in done.stdout
    assert "Traceback" not in output

    exe = build.executable()
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    lines = version.stdout.splitlines()
    assert lines[0] == f"{COMMAND} {__version__}", "the version is app's"
    assert lines[1].startswith("llama.cpp CPU kernels: "), version.stdout

    bundle = build.APP_DIR / "_internal"
    lib = bundle / "llama_cpp" / "lib"
    assert (lib / "libllama.so").is_file() and (lib / "libggml.so.0").is_file()
    assert not list(lib.glob("*.so.*.*")), "the fully versioned copies are left out"
    if build.llama_libs.supported():
        kernels = next(line for line in done.stdout.splitlines() if "CPU kernels:" in line)
        assert kernels.split(": ")[-1] in build.llama_libs.VARIANTS, output
        variants = {p.name for p in lib.glob("libggml-cpu-*.so")}
        assert variants == {f"libggml-cpu-{v}.so" for v in build.llama_libs.VARIANTS}
        assert not (lib / "libggml-cpu.so").exists(), "not the venv's native build"
        for variant in lib.glob("libggml-cpu-*.so"):
            copy = tmp_path / variant.name
            shutil.copy(variant, copy)
            assert not build.llama_libs.set_runpath_to_origin(copy), "RUNPATH is $ORIGIN"
    if sys.platform.startswith("linux"):
        assert build.glibc_floor.violations(build.APP_DIR) == []
        assert not (bundle / "libstdc++.so.6").exists(), "the system's C++ runtime is used"
    plugins = bundle / "PySide6" / "Qt" / "plugins"
    assert {p.name for p in (plugins / "platforms").iterdir()} == {
        "libqxcb.so",
        "libqwayland.so",
        "libqoffscreen.so",
    }, "only the window systems people use, and offscreen"
    # Trimmed (packaging/trim.py): no GTK3 theme and the host GTK stack it drags in, no
    # translations, no GPLv3 readline, and the interpreter without its symbol table.
    assert not (plugins / "platformthemes" / "libqgtk3.so").exists()
    assert not list(bundle.glob("libpango*")) and not list(bundle.glob("libcairo*"))
    assert not (bundle / "PySide6" / "Qt" / "translations").exists()
    assert not list(bundle.rglob("libreadline*")) and not list(bundle.rglob("readline.*.so"))
    (libpython,) = bundle.glob("libpython3*.so*")
    sections = subprocess.run(
        ["readelf", "--section-headers", "--wide", str(libpython)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".symtab" not in sections, "libpython is stripped"
    starter = bundle / STARTER.package / STARTER.filename
    assert starter.stat().st_size == STARTER.size
    assert not (bundle / STARTER.package / "__init__.py").exists(), "only the model file"
    assert (bundle / "resources" / "catalog.json").is_file()
    assert (bundle / "resources" / "icons" / f"{APP_ID}.svg").is_file()
    # The window's icon set (app/ui/icons.py), with its licence.
    lucide = bundle / "resources" / "icons" / "lucide"
    assert (lucide / "LICENSE").is_file() and (lucide / "message-circle.svg").is_file()


LAVAPIPE_ICD = Path("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")


def run_bundle(exe: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The packaged command line, offline, on data folder ``home``, lavapipe named."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GGML_VK_", "VK_", "LLAMA_CPP_", "PYTHON"))
    }
    environment.update(
        DRIFTLESS_HOME=str(home), HF_ENDPOINT="http://127.0.0.1:9", GGML_VK_VISIBLE_DEVICES="0"
    )
    environment.update(env)
    return subprocess.run(
        [str(exe), *args], env=environment, capture_output=True, text=True, timeout=900
    )


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@pytest.mark.slow
def test_the_packaged_app_offloads_to_lavapipe_and_answers_on_the_cpu_without_a_loader(
    tmp_path: Path,
) -> None:
    """The done-when of GPU offload, on the bundle itself: it lists lavapipe, answers on
    it with the backend named, and a copy of it whose Vulkan library needs a loader that
    does not exist (libvulkan.so.9: a machine without libvulkan.so.1) answers on the CPU
    and says why once. One chat computes on lavapipe: about two minutes, nearly all of it
    lavapipe compiling llama.cpp's pipelines (tests/test_vulkan.py has the rest)."""
    build = load_build_script()
    if not build.llama_libs.supported():
        pytest.skip("the portable llama.cpp (with Vulkan) is built on Linux x86-64 only")
    toolchain, why = build.llama_libs.vulkan_toolchain()
    if toolchain is None:
        pytest.skip(f"no Vulkan build here: {why}")
    if not LAVAPIPE_ICD.is_file():
        pytest.skip("Mesa's lavapipe is not installed (mesa-vulkan-drivers)")
    built = subprocess.run(  # up to date after the smoke test: a second
        [sys.executable, str(PACKAGING / "build.py")], cwd=ROOT, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stdout + built.stderr
    exe = build.executable()
    vulkan = build.APP_DIR / "_internal" / "llama_cpp" / "lib" / "libggml-vulkan.so"
    assert vulkan.is_file(), "the bundle carries the Vulkan backend"
    home = tmp_path / "h"

    found = run_bundle(exe, home, "models", "devices", "--json")
    assert found.returncode == 0, found.stderr
    [device] = json.loads(found.stdout)["devices"]
    assert device["description"].startswith("llvmpipe") and device["software"] is True

    args = ("chat", "--no-save", "--stats", "--temperature", "0", "--max-tokens", "2")
    done = run_bundle(exe, home, *args, "--gpu-layers", "all", "What is 7 times 8?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "a reply"
    stats = json.loads(done.stderr.strip().splitlines()[-1])
    assert stats["backend"].startswith("Vulkan (llvmpipe"), stats
    assert stats["backend"].endswith("driver llvmpipe): 31/31 layers"), stats

    # the same bundle with no Vulkan loader: its files hard-linked, the Vulkan library
    # patched to need libvulkan.so.9
    copy = tmp_path / "Driftless"
    shutil.copytree(build.APP_DIR, copy, symlinks=True, copy_function=link_or_copy)
    patched = copy / vulkan.relative_to(build.APP_DIR)
    data = patched.read_bytes()
    assert data.count(b"libvulkan.so.1\0") == 1
    patched.unlink()  # a hard link: the bundle's own file must stay as it is
    patched.write_bytes(data.replace(b"libvulkan.so.1\0", b"libvulkan.so.9\0"))
    cpu_home = tmp_path / "cpu"
    copy_exe = copy / exe.relative_to(build.APP_DIR)
    done = run_bundle(copy_exe, cpu_home, *args, "--gpu-layers", "all", "What is 7 times 8?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "a reply"
    assert json.loads(done.stderr.strip().splitlines()[-1])["backend"] == "CPU", done.stderr
    assert "there is no Vulkan loader on this machine" in done.stderr
    log = (cpu_home / "logs" / "driftless.log").read_text(encoding="utf-8", errors="replace")
    said = [line for line in log.splitlines() if "CPU only: there is no Vulkan loader" in line]
    assert len(said) == 1, log[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump")
def test_the_portable_cpu_kernels_use_only_their_own_instructions() -> None:
    """The floor's kernels have no AVX at all, AVX2's no AVX-512: checked in the code itself."""
    llama_libs = load_build_script().llama_libs
    if not llama_libs.supported():
        pytest.skip("the portable llama.cpp is built on Linux x86-64 only")
    folder = llama_libs.ensure()

    def registers(variant: str) -> set[str]:
        path = folder / f"libggml-cpu-{variant}.so"
        code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        return set(re.findall(r"%([xyz])mm\d+", code))

    assert registers("sse42") == {"x"}, "no ymm (AVX) nor zmm (AVX-512) registers"
    assert registers("haswell") == {"x", "y"}
    assert "z" in registers("skylakex")


@pytest.mark.slow
def test_the_packaged_app_on_emulated_processors() -> None:
    """make smoke-cpus, on the floor and below it: the kernels each gets, and a sentence."""
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py"), "--smoke-cpus", "Nehalem", "qemu64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    rows = output.split("smoke-cpus: the packaged smoke test per processor")[-1]
    assert re.search(r"Nehalem .* passed +kernels: sse42 ", rows), output
    assert re.search(r"qemu64 .* refused, as it must", rows), output
    assert "lacks POPCNT, SSE4.1, SSE4.2, SSSE3" in output
    assert "Illegal instruction" not in output


def test_build_key_changes_when_a_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = load_build_script()
    for name in ("app", "resources", "packaging"):
        (tmp_path / name).mkdir()
    (tmp_path / "app" / "main.py").write_text("print('a')\n")
    (tmp_path / "resources" / "catalog.json").write_text("{}\n")
    (tmp_path / "packaging" / "driftless.spec").write_text("# spec\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(build, "SPEC", tmp_path / "packaging" / "driftless.spec")
    before = build.input_key()
    assert build.input_key() == before
    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    assert build.input_key() == before, "byte-code caches are not inputs"
    (tmp_path / "app" / "main.py").write_text("print('b')\n")
    assert build.input_key() != before


# --- the glibc floor ------------------------------------------------------------------------

ARC4RANDOM_C = "#include <stdlib.h>\nint main(void) { return (int)(arc4random() & 1); }\n"


@pytest.fixture
def needs_glibc_2_36(tmp_path: Path) -> Path:
    """A small program calling arc4random, which glibc has had since 2.36 (as this machine)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler is needed to build llama.cpp, so it is here"
    (tmp_path / "fixture.c").write_text(ARC4RANDOM_C)
    folder = tmp_path / "bundle" / "_internal"
    folder.mkdir(parents=True)
    done = subprocess.run(
        [compiler, "-O0", "-o", str(folder / "libnew.so.1"), str(tmp_path / "fixture.c")],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 and "arc4random" in done.stderr:
        pytest.skip("this system's glibc is older than 2.36 (no arc4random)")
    assert done.returncode == 0, done.stderr
    return folder / "libnew.so.1"


def test_the_scanner_reads_each_needed_glibc_version_and_its_symbols(
    needs_glibc_2_36: Path,
) -> None:
    floor = load_script("glibc_floor")
    needs = {need.version: need for need in floor.version_needs(needs_glibc_2_36)}
    assert needs["GLIBC_2.36"].library == "libc.so.6"
    assert needs["GLIBC_2.36"].symbols == ("arc4random",)
    assert needs["GLIBC_2.36"].glibc == (2, 36)
    assert any(need.glibc and need.glibc < (2, 36) for need in needs.values())  # main's
    bundle = needs_glibc_2_36.parents[1]
    assert floor.highest_glibc(bundle) == ((2, 36), needs_glibc_2_36)
    assert floor.violations(bundle, floor=(2, 36)) == []
    (bundle / "notes.txt").write_text("not an ELF file\n")
    (bundle / "link.so").symlink_to(needs_glibc_2_36)
    [problem] = floor.violations(bundle, floor=(2, 35))
    assert problem.startswith("_internal/libnew.so.1 needs GLIBC_2.36 from libc.so.6")
    assert "(arc4random)" in problem


def test_the_build_fails_when_a_library_needs_a_newer_glibc_than_the_floor(
    needs_glibc_2_36: Path,
) -> None:
    build = load_build_script()
    assert build.glibc_floor.GLIBC_FLOOR <= (2, 35), "Ubuntu 22.04 (glibc 2.35) or older"
    with pytest.raises(build.BuildFailed, match=r"above the glibc 2\.35 floor"):
        build.check_glibc_floor(needs_glibc_2_36.parents[1])
    needs_glibc_2_36.unlink()
    build.check_glibc_floor(needs_glibc_2_36.parents[1])  # nothing left above it


def test_the_cpu_variants_runpath_is_their_own_folder_not_the_build_s(tmp_path: Path) -> None:
    llama_libs = load_build_script().llama_libs
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler
    (tmp_path / "lib.c").write_text("int answer(void) { return 42; }\n")
    library = tmp_path / "libggml-cpu-test.so"
    rpath = "-Wl,-rpath,/home/builder/.cache/driftless-build/llama-build-x/build/bin"
    command = [compiler, "-shared", "-fPIC", rpath, "-o", str(library), str(tmp_path / "lib.c")]
    subprocess.run(command, check=True)
    assert b"/home/builder" in library.read_bytes()
    assert llama_libs.set_runpath_to_origin(library)
    assert b"/home/builder" not in library.read_bytes()
    assert not llama_libs.set_runpath_to_origin(library), "done once"
    if shutil.which("readelf"):
        dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True)
        assert re.search(r"R(UN)?PATH\).*\[\$ORIGIN\]", dynamic.stdout), dynamic.stdout


@pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils cross-check")
def test_the_scanner_agrees_with_objdump() -> None:
    """On a real library with many versioned symbols: llama.cpp's, as installed."""
    floor = load_script("glibc_floor")
    library = next((Path(sys.prefix) / "lib").glob("python3*/site-packages/llama_cpp/lib"))
    path = sorted(library.glob("libllama.so*"))[-1]
    dump = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True)
    undefined = re.compile(r"\*UND\*\s+\S+\s+\(?(\w+_[\d.]+)\)?\s+(\S+)$", re.MULTILINE)
    expected = {(match[1], match[2]) for match in undefined.finditer(dump.stdout)}
    found = {
        (need.version, symbol) for need in floor.version_needs(path) for symbol in need.symbols
    }
    assert expected and found == expected


# --- desktop integration files ------------------------------------------------------------


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive
    parser.read(PACKAGING / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_file_launches_the_app_with_its_id_and_icon() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == APP_NAME
    assert entry["Exec"].split()[0] == COMMAND
    assert entry["Icon"] == APP_ID, "the icon theme name is the app id"
    assert entry["Terminal"] == "false"
    assert entry["Comment"].strip() and entry["GenericName"].strip()
    categories = entry["Categories"]
    assert categories.endswith(";")
    main = {"AudioVideo", "Development", "Education", "Game", "Graphics", "Network", "Office"}
    assert set(categories.rstrip(";").split(";")) & (main | {"Science", "Settings", "Utility"})
    assert entry["Keywords"].endswith(";")


def test_metainfo_names_the_same_app_version_and_licence() -> None:
    path = PACKAGING / f"{APP_ID}.metainfo.xml"
    root = ET.parse(path).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == APP_NAME
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == PYPROJECT["project"]["license"]["text"]
    summary = root.findtext("summary") or ""
    assert summary and not summary.endswith("."), "AppStream summaries end without a period"
    assert root.find("description/p") is not None
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == f"{APP_ID}.desktop"
    assert (PACKAGING / launchable.text).is_file()
    assert root.findtext("provides/binary") == COMMAND
    assert root.find("content_rating") is not None
    release = root.find("releases/release")
    assert release is not None
    assert release.get("version") == __version__, "add a <release> when bumping the version"
    assert release.get("date")
    categories = [c.text for c in root.findall("categories/category")]
    assert categories == desktop_entry()["Categories"].rstrip(";").split(";")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_icon_comes_as_svg_and_every_png_size() -> None:
    svg = ET.parse(ICONS / f"{APP_ID}.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        path = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png_size(path) == (size, size)


def test_windows_and_macos_icons_hold_the_sizes_they_need() -> None:
    ico = (ICONS / "driftless.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1)
    sides = [ico[6 + 16 * i] or 256 for i in range(count)]
    assert {16, 32, 48, 256} <= set(sides)
    icns = (ICONS / "driftless.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    kinds, offset = set(), 8
    while offset < len(icns):
        kinds.add(icns[offset : offset + 4])
        offset += struct.unpack(">I", icns[offset + 4 : offset + 8])[0]
    assert offset == len(icns)
    assert {b"ic07", b"ic08", b"ic09", b"ic10"} <= kinds
