"""A 16-bit copy of a small model's weights, so classification's batches run faster.

llama.cpp's CPU backend multiplies some weight types much faster in batches than others.
F16 (through llamafile's tiled kernels) and Q4_0 (repacked on load) have batched
kernels; Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants are multiplied a row at a time. Chat
evaluates a prompt once and then one token at a time, where the packed file is the
faster one. Classification evaluates thousands of short texts in batches, where a copy
of the weights in F16 is faster: 2.3x the tokens per second on the starter (Q4_1) and
1.45x on Gemma 3 270M (Q4_K_M), measured with ``bench/bench_classify.py``.

The copy holds the pinned file's weights: each packed value (``d * q + m`` for Q4_1) is
rounded to the nearest 16-bit float, a relative change below 0.05 %, much smaller than
the packing's own rounding. With F16 weights llama.cpp also rounds the activations to
16 bits rather than to 8, so scores move slightly: on 400 SST-2 sentences the copy and
the packed file chose the same label for 97.5 % (the rest were near ties), and an F32
copy chose exactly as the F16 one did. Results name the weights that produced them.

The copy is a cache beside the data folder, keyed by the source's sha256. It is checked
like the store checks models (size and modification time on every use, the full hash
when they moved), rebuilt when wrong, and removed with the last model it belongs to.
Unpacking never fails a load: when it cannot be done (a big model, a full disk, too
little memory, an error in llama.cpp) the packed file is used and the reason is kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from app.core.errors import DriftlessError
from app.core.fsutil import atomic_write_text, create_private, make_dirs, sha256_file
from app.core.machine import available_memory
from app.core.models.gguf import GGUFInfo, read_gguf
from app.core.runtime.llama import LLAMA_LOAD_LOCK, clear_native_errors, last_native_error
from app.core.units import human_size

log = logging.getLogger(__name__)

FAST_TYPES = frozenset({"F32", "F16", "BF16", "Q4_0", "IQ4_NL"})
"""Weight types llama.cpp already multiplies in batches at full speed: left as they are."""
MAX_UNPACKED_BYTES = 3 * 2**30 // 2
"""Models whose F16 copy would be larger (about 750M parameters) are used packed."""
SPACE_MARGIN = 256 * 2**20
SIDECAR_FORMAT = 1
STALE_PARTIAL_SECONDS = 3600


@dataclass(frozen=True)
class Weights:
    """The file a model is evaluated from, and how results name it."""

    path: Path
    label: str
    """``Q4_1`` for the file as it is; ``F16 from Q4_1`` for the unpacked copy."""
    unpacked: bool
    note: str | None = None
    """Why the packed file is used though unpacking was asked for; None otherwise."""


def main_type(info: GGUFInfo) -> str:
    """The type holding most of the file's matrix bytes (``Q4_1``), ``?`` if none."""
    totals: dict[str, int] = {}
    for tensor in info.tensors:
        if len(tensor.shape) >= 2:
            totals[tensor.type_name] = totals.get(tensor.type_name, 0) + tensor.nbytes
    return max(totals, key=lambda name: totals[name]) if totals else "?"


def unpacked_size(info: GGUFInfo) -> int:
    """About the size of the F16 copy: two bytes per matrix value, the rest as they are."""
    size = info.data_offset
    for tensor in info.tensors:
        size += tensor.n_elements * 2 if len(tensor.shape) >= 2 else tensor.nbytes
    return size


def reason_to_keep_packed(info: GGUFInfo) -> str | None:
    """Why unpacking would not help this model (or cost too much); None when it would help."""
    kind = main_type(info)
    if kind in FAST_TYPES:
        return f"its {kind} weights already run at full speed in batches"
    size = unpacked_size(info)
    if size > MAX_UNPACKED_BYTES:
        return (
            f"a 16-bit copy would take {human_size(size)}, more than the "
            f"{human_size(MAX_UNPACKED_BYTES)} allowed for one"
        )
    return None


class UnpackError(DriftlessError):
    """The copy could not be made; the caller uses the packed file."""


class UnpackedCache:
    """F16 copies of model files in one folder, named by the source's sha256."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.f16.gguf"

    def _sidecar(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.f16.json"

    def weights_for(
        self,
        path: Path,
        sha256: str,
        info: GGUFInfo,
        lib: ModuleType,
        *,
        threads: int = 1,
    ) -> Weights:
        """The copy for the verified file ``path`` (made if needed), else ``path`` with a note."""
        kind = main_type(info)
        packed = Weights(path, kind, unpacked=False)
        reason = reason_to_keep_packed(info)
        if reason is not None:
            return packed
        try:
            copy = self._existing(sha256)
            if copy is None:
                copy = self._make(path, sha256, info, lib, threads)
        except (DriftlessError, OSError) as exc:
            note = str(exc) if isinstance(exc, UnpackError) else f"the copy failed: {exc}"
            log.warning("Classifying with %s packed: %s", path.name, note)
            return Weights(path, kind, unpacked=False, note=note)
        return Weights(copy, f"F16 from {kind}", unpacked=True)

    def discard(self, sha256: str) -> None:
        for item in (self.path_for(sha256), self._sidecar(sha256)):
            item.unlink(missing_ok=True)

    def prune(self, keep: set[str]) -> list[str]:
        """Remove copies (and leftovers of interrupted ones) whose source is not in ``keep``."""
        removed: list[str] = []
        if not self.folder.is_dir():
            return removed
        now = time.time()
        for item in self.folder.iterdir():
            source = item.name.lstrip(".").split(".", 1)[0]
            if item.name.endswith(".partial"):
                # Another process may be writing it; one left for an hour was interrupted.
                with contextlib.suppress(OSError):
                    if now - item.stat().st_mtime < STALE_PARTIAL_SECONDS and source in keep:
                        continue
            elif source in keep:
                continue
            item.unlink(missing_ok=True)
            removed.append(item.name)
        return removed

    # -- inside --

    def _existing(self, sha256: str) -> Path | None:
        copy, sidecar = self.path_for(sha256), self._sidecar(sha256)
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            stat = copy.stat()
        except (OSError, ValueError):
            self.discard(sha256)
            return None
        if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT:
            self.discard(sha256)
            return None
        if record.get("size") != stat.st_size:
            log.warning("The 16-bit copy %s changed size; making it again", copy.name)
            self.discard(sha256)
            return None
        if record.get("mtime_ns") != stat.st_mtime_ns:
            if sha256_file(copy) != record.get("sha256"):
                log.warning("The 16-bit copy %s changed; making it again", copy.name)
                self.discard(sha256)
                return None
            record["mtime_ns"] = stat.st_mtime_ns
            atomic_write_text(sidecar, json.dumps(record, indent=1))
        return copy

    def _make(self, path: Path, sha256: str, info: GGUFInfo, lib: ModuleType, threads: int) -> Path:
        size = unpacked_size(info)
        make_dirs(self.folder)
        free = shutil.disk_usage(self.folder).free
        if free < size + SPACE_MARGIN:
            raise UnpackError(
                f"a 16-bit copy needs {human_size(size + SPACE_MARGIN)} of free disk space "
                f"and {human_size(free)} is free"
            )
        memory = available_memory()
        if memory is not None and memory < size + SPACE_MARGIN:
            raise UnpackError(
                f"a 16-bit copy needs {human_size(size)} of memory and "
                f"{human_size(memory)} is available"
            )
        partial = self.folder / f".{sha256}.{os.getpid()}-{secrets.token_hex(4)}.partial"
        try:
            params = lib.llama_model_quantize_default_params()
            params.ftype = lib.LLAMA_FTYPE_MOSTLY_F16
            params.allow_requantize = True
            params.nthread = max(1, threads)
            create_private(partial)  # llama.cpp writes into it, keeping its mode
            with LLAMA_LOAD_LOCK:
                clear_native_errors()
                code = lib.llama_model_quantize(str(path).encode(), str(partial).encode(), params)
                if code != 0:
                    raise UnpackError(
                        f"llama.cpp could not unpack it: {last_native_error('no reason given')}"
                    )
            read_gguf(partial)  # the copy is a model llama.cpp and our reader both accept
            digest = sha256_file(partial)
            copy = self.path_for(sha256)
            os.replace(partial, copy)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        stat = copy.stat()
        record = {
            "format": SIDECAR_FORMAT,
            "source_sha256": sha256,
            "sha256": digest,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "type": "F16",
        }
        atomic_write_text(self._sidecar(sha256), json.dumps(record, indent=1))
        log.info("Unpacked %s into %s (%s)", path.name, copy.name, human_size(stat.st_size))
        return copy
