"""The double-click app: the frozen build works, and its desktop files say the same thing.

The frozen build is made by ``packaging/build.py`` (``make package``), which rebuilds
only when the app's sources, resources, spec or installed packages changed (about 70 s
on two cores; otherwise a second), then started offscreen on a fresh data folder with
``--smoke-test``: the starter model is found inside the bundle, loaded by llama.cpp
from the bundled libraries, and a few words are generated.
"""

from __future__ import annotations

import configparser
import importlib.util
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


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("driftless_build", PACKAGING / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the frozen build ---------------------------------------------------------------------


@pytest.mark.slow
def test_frozen_build_starts_offline_loads_the_starter_and_generates() -> None:
    build = load_build_script()
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
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
    assert version.stdout.strip() == f"{COMMAND} {__version__}", "the version is app's"

    bundle = build.APP_DIR / "_internal"
    lib = bundle / "llama_cpp" / "lib"
    assert (lib / "libllama.so").is_file() and (lib / "libggml.so.0").is_file()
    assert not list(lib.glob("*.so.*.*")), "the fully versioned copies are left out"
    platforms = bundle / "PySide6" / "Qt" / "plugins" / "platforms"
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= {
        p.name for p in platforms.iterdir()
    }
    starter = bundle / STARTER.package / STARTER.filename
    assert starter.stat().st_size == STARTER.size
    assert not (bundle / STARTER.package / "__init__.py").exists(), "only the model file"
    assert (bundle / "resources" / "catalog.json").is_file()
    assert (bundle / "resources" / "icons" / f"{APP_ID}.svg").is_file()


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
