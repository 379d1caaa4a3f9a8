"""What the one-folder build leaves out on Linux: unused Qt plugins, Qt's translations,
and then every bundled library that nothing kept needs.

PyInstaller collects a Qt plugin folder whole and, for each plugin, the host libraries it
links to. Dropping a plugin leaves its libraries behind; :func:`reachable_only` follows
the ``NEEDED`` entries (``readelf -d``) from every file that is loaded by name (Python
extension modules, Qt plugins, llama.cpp's libraries, the interpreter) and keeps only
the top-level libraries that this reaches. Without readelf nothing is dropped.

Entries are PyInstaller's ``(dest_name, src_name, typecode)`` tuples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import PurePosixPath

Entry = tuple[str, str, str]

UNUSED_PLUGINS = {
    "platforms": {
        "libqeglfs.so",
        "libqlinuxfb.so",
        "libqminimal.so",
        "libqminimalegl.so",
        "libqvnc.so",
        "libqvkkhrdisplay.so",
    },
    "platformthemes": {"libqgtk3.so"},
    "egldeviceintegrations": None,  # None: the whole folder (eglfs only)
    "generic": None,  # evdev and tuio input, for screens without a window system
}


def _plugin_folder(dest: str) -> tuple[str, str] | None:
    parts = PurePosixPath(dest).parts
    if "plugins" in parts and parts.index("plugins") + 3 == len(parts):
        index = parts.index("plugins")
        return parts[index + 1], parts[index + 2]
    return None


def without_plugins(binaries: Iterable[Entry]) -> list[Entry]:
    kept = []
    for entry in binaries:
        found = _plugin_folder(entry[0])
        if found is not None:
            folder, name = found
            if folder in UNUSED_PLUGINS:
                names = UNUSED_PLUGINS[folder]
                if names is None or name in names:
                    continue
        kept.append(entry)
    return kept


def without_translations(datas: Iterable[Entry]) -> list[Entry]:
    return [e for e in datas if "translations" not in PurePosixPath(e[0]).parts[:3]]


def needed(path: str) -> list[str]:
    done = subprocess.run(
        ["readelf", "--dynamic", "--wide", path], capture_output=True, text=True, check=False
    )
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", done.stdout)


def _is_dependency(dest: str) -> bool:
    """A library PyInstaller copied because something links to it (top level, lib*.so*)."""
    name = PurePosixPath(dest)
    return len(name.parts) == 1 and name.name.startswith("lib") and ".so" in name.name


def reachable_only(binaries: Iterable[Entry]) -> list[Entry]:
    entries = list(binaries)
    if shutil.which("readelf") is None:
        print("trim: readelf not found (binutils): no unused library left out")
        return entries
    by_name = {PurePosixPath(e[0]).name: e for e in entries if _is_dependency(e[0])}
    roots = [e for e in entries if not _is_dependency(e[0]) or e[0].startswith("libpython")]
    reached: set[str] = set()
    queue = [e[1] for e in roots]
    while queue:
        for soname in needed(queue.pop()):
            if soname in by_name and soname not in reached:
                reached.add(soname)
                queue.append(by_name[soname][1])
    dropped = sorted(set(by_name) - reached - {e[0] for e in roots})
    if dropped:
        print(f"trim: {len(dropped)} libraries nothing kept needs: {', '.join(dropped)}")
    gone = set(dropped)
    return [e for e in entries if not _is_dependency(e[0]) or PurePosixPath(e[0]).name not in gone]
