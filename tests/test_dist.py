"""The downloads: ``make dist``'s tarball and .deb, and the tarball's install.sh.

The fast tests run install.sh on a stand-in folder (a shell script in place of the app) and
write small tarballs; the slow ones build the real archives once per run (``packaging/dist.py``
reuses the one-folder build that ``tests/test_package.py`` also uses, and skips archives
already made from it), unpack them and start the app from them.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from app import APP_ID, APP_NAME, __version__

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
VERSION_LINE = f"driftless {__version__}"


def load_dist_script() -> ModuleType:
    sys.path.insert(0, str(PACKAGING))
    try:
        spec = importlib.util.spec_from_file_location("driftless_dist", PACKAGING / "dist.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PACKAGING))


dist = load_dist_script()
glibc_floor = dist.glibc_floor  # as dist.py imports it


# --- desktop entries as a menu reads them -------------------------------------------------


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def exec_argv(value: str) -> list[str]:
    """The argv a menu runs for an Exec value, per the desktop entry spec: string escapes
    first (\\\\ is one backslash), then the quoting rules (\\" \\` \\$ \\\\ inside quotes)."""
    unescaped, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in "\\stnr":
            unescaped.append({"\\": "\\", "s": " ", "t": "\t", "n": "\n", "r": "\r"}[value[i + 1]])
            i += 2
        else:
            unescaped.append(value[i])
            i += 1
    text = "".join(unescaped)
    argv: list[str] = []
    current, quoted, started, i = [], False, False, 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                current.append(text[i + 1])
                i += 1
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted = started = True
        elif char == " ":
            if started:
                argv.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    assert not quoted, f"unterminated quote in Exec={value}"
    if started:
        argv.append("".join(current))
    return [arg.replace("%%", "%") for arg in argv]


def test_exec_argv_follows_the_spec() -> None:
    assert exec_argv('"/a b/c\\\\"d" --x') == ['/a b/c"d', "--x"]
    assert exec_argv('"/a\\\\\\\\b/100%%"') == ["/a\\b/100%"]


# --- install.sh on a stand-in folder --------------------------------------------------------


def fake_unpacked(folder: Path, glibc: str = "2.35") -> Path:
    """What install.sh finds in an unpacked tarball, with a script in place of the app
    (it prints the version line for --version, else its arguments)."""
    folder.mkdir(parents=True)
    (folder / "_internal").mkdir()
    app = folder / dist.BINARY
    app.write_text(
        f'#!/bin/sh\nif [ "$1" = --version ]; then echo "{VERSION_LINE}"; else echo "$@"; fi\n'
    )
    app.chmod(0o755)
    dist.write_share(folder / "share")
    dist.write_launcher(folder, glibc)
    return folder


def glibc_stubs(folder: Path, getconf: str | None, ldd: str | None = None) -> dict[str, str]:
    """An environment whose ``getconf GNU_LIBC_VERSION`` and ``ldd --version`` print these
    lines (``None``: the command fails and prints nothing), as an older system's would."""
    folder.mkdir(parents=True)
    for name, line in (("getconf", getconf), ("ldd", ldd)):
        stub = folder / name
        if line is None:
            stub.write_text("#!/bin/sh\nexit 1\n")
        else:
            stub.write_text(f"#!/bin/sh\necho '{line}'\n")
        stub.chmod(0o755)
    return {"HOME": str(folder.parent / "home"), "PATH": f"{folder}:{os.environ['PATH']}"}


def needs(glibc: str, have: str) -> str:
    return (
        f"Driftless needs glibc {glibc} or newer (Ubuntu 22.04, Debian 12, Fedora 36 and "
        f"later), and this system has glibc {have}.\n"
    )


def test_install_sh_refuses_an_old_glibc_in_one_sentence_and_installs_nothing(
    tmp_path: Path,
) -> None:
    unpacked = fake_unpacked(tmp_path / "unpacked")
    env = glibc_stubs(tmp_path / "debian11", "glibc 2.31")
    done = subprocess.run(
        ["sh", str(unpacked / "install.sh")], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", needs("2.35", "2.31"))
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    ("getconf", "ldd", "said"),
    [
        ("glibc 2.31", None, needs("2.35", "2.31")),
        (None, "ldd (Debian GLIBC 2.31-13+deb11u11) 2.31", needs("2.35", "2.31")),
        ("glibc 1.99", None, needs("2.35", "1.99")),
        (None, None, "this system's C library is not glibc or could not be identified"),
    ],
)
def test_the_launcher_checks_glibc_before_starting_the_app(
    tmp_path: Path, getconf: str | None, ldd: str | None, said: str
) -> None:
    unpacked = fake_unpacked(tmp_path / "unpacked")
    env = glibc_stubs(tmp_path / "old", getconf, ldd)
    done = subprocess.run(
        [str(unpacked / "driftless"), "--version"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout == ""
    assert said in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize("have", ["glibc 2.35", "glibc 2.36", "glibc 3.0"])
def test_the_launcher_runs_the_app_on_a_new_enough_glibc(tmp_path: Path, have: str) -> None:
    unpacked = fake_unpacked(tmp_path / "unpacked")
    env = glibc_stubs(tmp_path / "new", have)
    done = subprocess.run(
        [str(unpacked / "driftless"), "chat", "a b"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "chat a b\n"


def test_the_launcher_asks_for_what_the_build_needs(tmp_path: Path) -> None:
    """The floor is the template's default; dist.py writes in the build's own need."""
    template = (PACKAGING / "glibc-check.sh").read_text()
    assert f"NEED={glibc_floor.format_version(glibc_floor.GLIBC_FLOOR)}\n" in template
    unpacked = fake_unpacked(tmp_path / "unpacked", glibc="2.36")
    env = glibc_stubs(tmp_path / "bookworm-minus", "glibc 2.35")
    done = subprocess.run([str(unpacked / "driftless")], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (1, needs("2.36", "2.35"))


def run_install(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    done = subprocess.run(
        ["sh", str(script), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def validate(tool: str, package: str, command: list[str], unchecked: list[str]) -> None:
    """Runs a validator; a missing one is noted for ``report_unchecked``, never ignored."""
    if shutil.which(tool) is None:
        unchecked.append(
            f"{tool} is not installed (Debian: {package}), so {command[-1]} was not validated"
        )
        return
    valid = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert valid.returncode == 0, valid.stdout + valid.stderr


def validate_desktop_entry(path: Path, unchecked: list[str]) -> None:
    validate(
        "desktop-file-validate",
        "desktop-file-utils",
        ["desktop-file-validate", str(path)],
        unchecked,
    )


def validate_metainfo(path: Path, unchecked: list[str]) -> None:
    command = ["appstreamcli", "validate", "--no-net", str(path)]
    validate("appstreamcli", "appstream", command, unchecked)


def report_unchecked(unchecked: list[str]) -> None:
    """At a test's end: what could not be checked here turns the pass into a skip that says so."""
    if unchecked:
        pytest.skip("everything else passed; not checked on this machine: " + "; ".join(unchecked))


def check_install_and_uninstall(unpacked: Path, home: Path, unchecked: list[str]) -> None:
    """install.sh puts a working menu entry, icons and metainfo into ~/.local; --uninstall
    takes every file away again."""
    local = home / ".local"
    run_install(unpacked / "install.sh", home)
    entry_path = local / "share" / "applications" / f"{APP_ID}.desktop"
    entry = read_entry(entry_path)
    argv = exec_argv(entry["Exec"])
    assert argv == [str(local / "lib" / "driftless" / "driftless")], entry["Exec"]
    done = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=120)
    assert (done.stdout.splitlines() or [""])[0] == VERSION_LINE, done.stdout + done.stderr
    assert entry["StartupWMClass"] == APP_NAME  # Qt's X11 class name is the app's name
    linked = local / "bin" / "driftless"
    assert linked.is_symlink()
    done = subprocess.run([str(linked), "--version"], capture_output=True, text=True, timeout=120)
    assert (done.stdout.splitlines() or [""])[0] == VERSION_LINE
    assert (local / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    icons = local / "share" / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (icons / "256x256" / "apps" / f"{APP_ID}.png").is_file()
    validate_desktop_entry(entry_path, unchecked)

    run_install(unpacked / "install.sh", home)  # again: an update in place
    assert exec_argv(read_entry(entry_path)["Exec"]) == argv

    done = run_install(local / "lib" / "driftless" / "install.sh", home, "--uninstall")
    assert "removed" in done.stdout
    left = [name for name in files_under(local) if not name.endswith(".cache")]
    assert left == [], left
    assert unpacked.is_dir(), "the unpacked download is the user's, not the uninstaller's"


def test_install_sh_with_a_space_and_a_quote_in_home(tmp_path: Path) -> None:
    unpacked = fake_unpacked(tmp_path / "Downloads" / f"driftless-{__version__}")
    unchecked: list[str] = []
    check_install_and_uninstall(unpacked, tmp_path / 'Jo "the" Smith’s home', unchecked)
    report_unchecked(unchecked)


def test_install_sh_refuses_to_replace_a_folder_it_did_not_make(tmp_path: Path) -> None:
    unpacked = fake_unpacked(tmp_path / "unpacked")
    home = tmp_path / "home"
    foreign = home / ".local" / "lib" / "driftless"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine\n")
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    done = subprocess.run(
        ["sh", str(unpacked / "install.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "not a Driftless folder" in done.stderr
    assert (foreign / "notes.txt").read_text() == "mine\n"


# --- the tarball writer --------------------------------------------------------------------


def test_tarball_is_reproducible_sorted_and_keeps_symlinks(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "_internal" / "lib").mkdir(parents=True)
    (app / "_internal" / "lib" / "libx.so.1").write_bytes(b"\x7fELF")
    (app / "_internal" / "libx.so.1").symlink_to("lib/libx.so.1")
    (app / "driftless").write_text("#!/bin/sh\n")
    (app / "driftless").chmod(0o700)
    extras = tmp_path / "extras"
    extras.mkdir()
    (extras / "README").write_text("hello\n")
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    dist.write_tarball(first, "driftless-1", [extras, app], 1_234_567_890)
    os.utime(app / "driftless", (1, 1))  # another mtime on disk changes nothing
    dist.write_tarball(second, "driftless-1", [extras, app], 1_234_567_890)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and names[0] == "driftless-1"
    assert all(n == "driftless-1" or n.startswith("driftless-1/") for n in names)
    by_name = {m.name: m for m in members}
    link = by_name["driftless-1/_internal/libx.so.1"]
    assert link.issym() and link.linkname == "lib/libx.so.1"
    assert by_name["driftless-1/driftless"].mode == 0o755
    assert by_name["driftless-1/README"].mode == 0o644
    assert {(m.uid, m.gid, m.uname, m.mtime) for m in members} == {(0, 0, "root", 1_234_567_890)}


def test_python_licences_come_from_the_distributions_metadata() -> None:
    import importlib.metadata

    files = [p.name for p in dist.licence_files(importlib.metadata.distribution("numpy"))]
    assert "LICENSE.txt" in files
    assert not dist.licence_files(importlib.metadata.distribution("shiboken6"))


# --- the real archives ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def archives() -> Iterator[tuple[Path, Path]]:
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "dist.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield dist.tarball_path(), dist.deb_path()


@pytest.mark.slow
def test_tarball_unpacks_to_a_working_app_and_installs_from_a_path_with_spaces(
    archives: tuple[Path, Path], tmp_path: Path
) -> None:
    tarball, _ = archives
    assert tarball.name == f"driftless-{__version__}-linux-x86_64.tar.gz"
    downloads = tmp_path / "My Downloads ÄÖ"
    downloads.mkdir()
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(downloads)], check=True)
    assert [p.name for p in downloads.iterdir()] == [f"driftless-{__version__}"]
    unpacked = downloads / f"driftless-{__version__}"
    qt_core = unpacked / "_internal" / "libQt6Core.so.6"
    assert qt_core.is_symlink() and qt_core.resolve().is_file(), "symlinks stay symlinks"
    licences = unpacked / "LICENSES"
    for name in ("LGPL-3.0.txt", "GPL-3.0.txt", "Qt-LGPL-NOTICE.txt", "llama.cpp-MIT.txt"):
        assert (licences / name).stat().st_size > 500, name
    assert "Python Software Foundation" in (licences / "Python-PSF.txt").read_text()
    assert "Apache License" in (licences / "Apache-2.0.txt").read_text()
    index = (licences / "python-packages" / "INDEX.txt").read_text()
    assert "numpy " in index and "huggingface_hub " in index and "Jinja2 " in index
    readme = (unpacked / "README").read_text()
    assert "./install.sh" in readme and "--uninstall" in readme
    assert re.search(r"glibc 2\.\d+ or newer", readme), readme
    assert (unpacked / "driftless").read_bytes().startswith(b"#!"), "the launcher"
    assert (unpacked / "driftless-app").read_bytes()[:4] == b"\x7fELF", "the app itself"
    done = subprocess.run(
        [str(unpacked / "driftless"), "--version"], capture_output=True, text=True, timeout=120
    )
    assert (done.stdout.splitlines() or [""])[0] == VERSION_LINE, done.stdout + done.stderr
    unchecked: list[str] = []
    smoke_offline(unpacked / "driftless", tmp_path / "data folder é", unchecked)
    check_install_and_uninstall(unpacked, tmp_path / "home with space", unchecked)
    # The unpacked download on the oldest processor it supports (emulated), offline.
    build = dist.build  # packaging/build.py, as dist.py imports it
    qemu = build.ensure_qemu()
    unshare = ["unshare", "-rn"] if network_namespaces_allowed() else []
    emulated = build.smoke(
        [*unshare, qemu, "-cpu", "Nehalem"], capture=True, app=unpacked / dist.BINARY
    )
    assert emulated.returncode == 0, emulated.stdout + emulated.stderr
    assert f"{build.KERNELS_LINE}sse42" in emulated.stdout, emulated.stdout
    report_unchecked(unchecked)


def network_namespaces_allowed() -> bool:
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


def smoke_offline(app: Path, home: Path, unchecked: list[str]) -> None:
    """The packaged smoke test (window offscreen, starter loaded, a reply), with no network
    at all. Where this machine allows no network namespace (``unshare -rn``) it runs with
    the network, and the test ends as skipped, saying so, once everything else passed."""
    command = [str(app), "--home", str(home), "--smoke-test"]
    if network_namespaces_allowed():
        command = ["unshare", "-rn", *command]
    else:
        unchecked.append(
            "the smoke test ran with the network on: this machine does not allow a "
            "network namespace (unshare -rn)"
        )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke: ok" in done.stdout, done.stdout


def dpkg_deb(*args: str) -> str:
    return subprocess.run(
        ["dpkg-deb", *args], capture_output=True, text=True, check=True, timeout=300
    ).stdout


@pytest.mark.slow
def test_deb_fields_files_and_install_into_a_fresh_root(
    archives: tuple[Path, Path], tmp_path: Path
) -> None:
    _, deb = archives
    assert deb.name == f"driftless_{__version__}_amd64.deb"
    fields = dict(
        line.split(": ", 1) for line in dpkg_deb("--field", str(deb)).splitlines() if ": " in line
    )
    assert fields["Package"] == "driftless" and fields["Version"] == __version__
    assert fields["Architecture"] == "amd64"
    assert "<" in fields["Maintainer"] and fields["Description"]
    depends = fields["Depends"].split(", ")
    assert depends[0].startswith("libc6 (>= 2."), depends
    assert "libgl1" in depends and "libxcb1" in depends, depends
    # every dependency is a real package: the build machine's own copies came from them
    names = [d.split(" ")[0] for d in depends]
    known = subprocess.run(["dpkg-query", "-W", *names], capture_output=True, text=True)
    assert known.returncode == 0, known.stderr
    assert int(fields["Installed-Size"]) > 100_000  # KiB
    info = dpkg_deb("--info", str(deb))
    for script in ("preinst", "postinst", "prerm", "postrm"):
        assert script not in info, "dpkg triggers refresh the menu and icon caches"

    listing = dpkg_deb("--contents", str(deb)).splitlines()
    paths = {line.split()[5].removeprefix("."): line for line in listing}
    for path in (
        "/opt/driftless/driftless",
        f"/usr/share/applications/{APP_ID}.desktop",
        f"/usr/share/metainfo/{APP_ID}.metainfo.xml",
        f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
        f"/usr/share/icons/hicolor/48x48/apps/{APP_ID}.png",
        "/usr/share/doc/driftless/copyright",
        "/usr/share/doc/driftless/LICENSES/LGPL-3.0.txt",
    ):
        assert path in paths, path
    assert paths["/usr/bin/driftless"].endswith("-> /opt/driftless/driftless")
    assert all(" root/root " in line for line in listing)
    assert {p for p in paths if not p.startswith(("/opt/", "/usr/"))} == {"/"}

    root = tmp_path / "fresh root"
    for folder in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / folder).mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").touch()
    dpkg = ["dpkg", f"--root={root}", "--log=/dev/null", "--force-depends"]
    subprocess.run([*dpkg, "-i", str(deb)], check=True, capture_output=True, timeout=600)
    app = root / "opt" / "driftless" / "driftless"
    done = subprocess.run([str(app), "--version"], capture_output=True, text=True, timeout=120)
    assert (done.stdout.splitlines() or [""])[0] == VERSION_LINE, done.stdout + done.stderr
    assert (root / "usr" / "bin" / "driftless").readlink() == Path("/opt/driftless/driftless")
    unchecked: list[str] = []
    smoke_offline(app, tmp_path / "data folder", unchecked)
    entry_path = root / "usr" / "share" / "applications" / f"{APP_ID}.desktop"
    assert exec_argv(read_entry(entry_path)["Exec"])[0] == "driftless"
    metainfo = root / "usr" / "share" / "metainfo" / f"{APP_ID}.metainfo.xml"
    validate_desktop_entry(entry_path, unchecked)
    validate_metainfo(metainfo, unchecked)

    subprocess.run([*dpkg, "--purge", "driftless"], check=True, capture_output=True, timeout=600)
    assert not (root / "opt" / "driftless").exists()
    assert not entry_path.exists() and not (root / "usr" / "bin" / "driftless").is_symlink()
    report_unchecked(unchecked)


def test_metainfo_has_a_homepage_and_screenshots_that_exist() -> None:
    import xml.etree.ElementTree as ET

    root = ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()
    homepage = root.findtext("url[@type='homepage']") or ""
    assert homepage.startswith("https://")
    shots = root.findall("screenshots/screenshot")
    assert len(shots) >= 2 and [s.get("type") for s in shots].count("default") == 1
    for shot in shots:
        image = shot.findtext("image") or ""
        assert image.startswith(homepage), image
        assert (ROOT / "docs" / "screenshots" / image.rsplit("/", 1)[-1]).is_file(), image
        assert (shot.findtext("caption") or "").strip()
    unchecked: list[str] = []
    validate_metainfo(PACKAGING / f"{APP_ID}.metainfo.xml", unchecked)
    report_unchecked(unchecked)


def test_depends_name_the_packages_of_libraries_the_bundle_needs_and_does_not_ship(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libraries = dist.system_library_paths()
    system = Path(libraries["libxcb-render.so.0"]).resolve()  # needs libxcb.so.1 and libc
    app = tmp_path / "Driftless"
    plugins = app / "_internal" / "PySide6" / "Qt" / "plugins" / "x"
    plugins.mkdir(parents=True)
    shutil.copyfile(system, app / "_internal" / "libxcb-render.so.0")
    depends = dist.debian_depends(app)
    assert depends[0].startswith("libc6 (>= 2.") and "libxcb1" in depends, depends
    assert "libxcb-cursor0" in depends, "Qt opens it with dlopen and it is not shipped"
    assert "libxcb-render0" not in depends, "what the bundle ships is no dependency"

    # a plugin's needs are optional: Qt skips a plugin whose libraries are missing
    (app / "_internal" / "libxcb-render.so.0").rename(plugins / "libplugin.so")
    assert "libxcb1" not in dist.debian_depends(app)

    # a library that cannot be named stops the build rather than leave Depends short
    (plugins / "libplugin.so").rename(app / "_internal" / "libxcb-render.so.0")
    del libraries["libxcb.so.1"]
    monkeypatch.setattr(dist, "system_library_paths", lambda: libraries)
    with pytest.raises(SystemExit, match=r"libxcb\.so\.1"):
        dist.debian_depends(app)
