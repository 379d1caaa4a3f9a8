"""The curated catalog of small models, and whether each fits this machine.

The catalog is a data file (``resources/catalog.json``): for each model the Hub
repo and GGUF file, its approximate size, parameter count, licence, the memory it
needs to run and what it is good for. Only this metadata is curated; the exact
commit and sha256 are resolved from the Hub at download time, like any download.

"Fits this machine" compares the memory a model needs with the machine's total
memory, read from the operating system without any extra dependency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from app.core.errors import DriftlessError
from app.core.fsutil import is_safe_relative_path
from app.core.resources import resource_path

CATALOG_PATH = resource_path("catalog.json")
SCHEMA = 1
USES = ("chat", "classification")


class CatalogError(DriftlessError):
    """The catalog file is missing or malformed."""


class Fit(Enum):
    FITS = "fits"
    TIGHT = "tight"
    TOO_BIG = "too big"
    UNKNOWN = "unknown"


RECOMMENDED = "Qwen2.5 1.5B Instruct"
"""The catalog model a newcomer is pointed to for real work after the starter: a strong
all-rounder for chat and classification, Apache-licensed, about 1 GB, and it fits an
8 GB machine."""


# A model "fits" when it needs at most half the memory (the system and other apps need
# the rest); up to FIT_TIGHT it runs if little else does.
FIT_COMFORTABLE = 0.5
FIT_TIGHT = 0.8


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    family: str
    repo: str
    filename: str
    size: int
    size_approximate: bool
    parameters: str
    license: str
    memory: int
    good_for: tuple[str, ...]
    note: str = ""

    def fit(self, total_memory: int | None) -> Fit:
        return fit_for(self.memory, total_memory)


def fit_for(needed: int, total_memory: int | None) -> Fit:
    """How well a model needing ``needed`` bytes of memory fits ``total_memory``."""
    if not total_memory or total_memory <= 0:
        return Fit.UNKNOWN
    if needed <= total_memory * FIT_COMFORTABLE:
        return Fit.FITS
    if needed <= total_memory * FIT_TIGHT:
        return Fit.TIGHT
    return Fit.TOO_BIG


def recommended(entries: list[CatalogEntry] | None = None) -> CatalogEntry | None:
    """The :data:`RECOMMENDED` entry of the catalog (None if a catalog lacks it)."""
    listed = entries if entries is not None else load_catalog()
    return next((e for e in listed if e.name == RECOMMENDED), None)


def load_catalog(path: Path = CATALOG_PATH) -> list[CatalogEntry]:
    """The catalog's entries, in file order. Raises :class:`CatalogError` with a sentence."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"The model catalog {path} is missing; reinstall Driftless.") from exc
    except (OSError, ValueError) as exc:
        raise CatalogError(f"The model catalog {path.name} cannot be read: {exc}.") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise CatalogError(f"{path.name} is not a schema {SCHEMA} model catalog.")
    models = data.get("models")
    if not isinstance(models, list):
        raise CatalogError(f"{path.name}: 'models' must be a list.")
    entries = [_entry(path.name, n, item) for n, item in enumerate(models, start=1)]
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        key = (entry.repo, entry.filename)
        if key in seen:
            raise CatalogError(f"{path.name}: {entry.repo}/{entry.filename} is listed twice.")
        seen.add(key)
    return entries


def _entry(name: str, number: int, item: Any) -> CatalogEntry:
    where = f"{name}, model {number}"
    if not isinstance(item, dict):
        raise CatalogError(f"{where}: expected an object.")

    def text(key: str, default: str | None = None) -> str:
        value = item.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise CatalogError(f"{where}: '{key}' must be a non-empty string.")
        return value.strip()

    def positive(key: str) -> int:
        value = item.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise CatalogError(f"{where}: '{key}' must be a positive whole number.")
        return value

    repo = text("repo")
    if repo.count("/") != 1 or not is_safe_relative_path(repo):
        raise CatalogError(f"{where}: '{repo}' is not a Hub repository like 'owner/name'.")
    filename = text("filename")
    if not is_safe_relative_path(filename) or not filename.lower().endswith(".gguf"):
        raise CatalogError(f"{where}: '{filename}' is not a GGUF file name inside the repo.")
    good_for = item.get("good_for", [])
    if not isinstance(good_for, list) or not good_for or any(u not in USES for u in good_for):
        raise CatalogError(f"{where}: 'good_for' must list some of {', '.join(USES)}.")
    approximate = item.get("size_approximate", True)
    if not isinstance(approximate, bool):
        raise CatalogError(f"{where}: 'size_approximate' must be true or false.")
    note = item.get("note", "")
    return CatalogEntry(
        name=text("name"),
        family=text("family"),
        repo=repo,
        filename=filename,
        size=positive("size"),
        size_approximate=approximate,
        parameters=text("parameters"),
        license=text("license"),
        memory=positive("memory_mb") * 1_000_000,
        good_for=tuple(good_for),
        note=note.strip() if isinstance(note, str) else "",
    )
