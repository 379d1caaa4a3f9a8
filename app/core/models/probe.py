"""Load safety that survives llama.cpp: a model's first load is tried in a child process.

Every load first passes the store's checks and the GGUF reader's (header and
hyperparameters). What those do not know about can still end the process inside
llama.cpp, where nothing can catch it; if that model is the active one, the window would
die on every start. So the first load of a file (its sha256) on an installed llama.cpp
(the llama-cpp-python version) is tried in a child first (:mod:`app.core.runtime.probe`).
A crash there is remembered, and every later load of that file on that llama.cpp is
refused with a ``ModelLoadError`` sentence, at once, without trying again.

The answers are a cache, one small JSON file per sha256 under ``<home>/cache/probes``,
written atomically, outside the registry: deleting the folder only means probing again.
A new llama-cpp-python probes again. The bundled starter model is not probed on the
llama-cpp-python version Driftless pins: its bytes are checked against a pinned sha256,
and the test suite and the packaged smoke test load it on that version.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.errors import ModelLoadError
from app.core.fsutil import atomic_write_text
from app.core.models.starter import STARTER
from app.core.models.store import InstalledModel
from app.core.paths import Paths
from app.core.runtime.probe import ProbeOutcome, run_probe

log = logging.getLogger(__name__)

PINNED_LLAMA_CPP = "0.3.36"
"""The llama-cpp-python version Driftless is built and tested with (pyproject.toml)."""
KNOWN_GOOD = frozenset({(STARTER.sha256, PINNED_LLAMA_CPP)})
"""(sha256, llama-cpp-python version) pairs loaded by every test run: never probed."""

_probe_lock = threading.Lock()  # one probe at a time: each maps a whole model


@dataclass(frozen=True)
class ProbeRecord:
    """What the last probe of one file on one llama.cpp said."""

    sha256: str
    llama_cpp: str
    ok: bool
    how: str  # "loaded", "refused" (an error, no crash), "SIGABRT", "exit code 1"...
    detail: str
    probed_at: str
    seconds: float

    def problem(self, model_id: str) -> str:
        """The sentence a user sees when this record forbids loading ``model_id``."""
        clue = f" ({self.detail})" if self.detail else ""
        return (
            f"{model_id} cannot be loaded on this llama.cpp: {self.how}. It crashed "
            f"llama-cpp-python {self.llama_cpp} when it was tried on {self.probed_at[:10]}"
            f"{clue}, so Driftless will not load it again. Choose another model, or "
            "update Driftless and try again."
        )


def llama_cpp_version() -> str:
    """The installed llama-cpp-python's version, read without loading the native library."""
    from importlib import metadata

    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        pass
    try:  # a frozen build may carry the package without its metadata
        from app.core.runtime.llama import import_llama_cpp

        return str(getattr(import_llama_cpp(), "__version__", "unknown"))
    except Exception:
        return "unknown"


class ProbeCache:
    """Probe answers under one data folder: ``cache/probes/<sha256>.json``."""

    def __init__(self, paths: Paths) -> None:
        self.folder = paths.home / "cache" / "probes"

    def _file(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.json"

    def get(self, sha256: str, llama_cpp: str) -> ProbeRecord | None:
        """The record for this file on this llama.cpp, or None (never probed, or unreadable)."""
        try:
            data = json.loads(self._file(sha256).read_text(encoding="utf-8"))
            record = ProbeRecord(**data)
        except (OSError, ValueError, TypeError):
            return None  # a damaged cache entry only means probing again
        if record.sha256 != sha256 or record.llama_cpp != llama_cpp:
            return None
        return record

    def put(self, record: ProbeRecord) -> None:
        try:
            atomic_write_text(self._file(record.sha256), json.dumps(asdict(record), indent=1))
        except OSError:
            log.warning("Could not keep the probe result for %s", record.sha256, exc_info=True)

    def crashed(self, model: InstalledModel) -> ProbeRecord | None:
        """The record of a crash that forbids loading ``model`` now, or None."""
        record = self.get(model.sha256, llama_cpp_version())
        return record if record is not None and not record.ok else None


def ensure_loadable(
    paths: Paths,
    model: InstalledModel,
    *,
    cancel: CancelToken | None = None,
    force: bool = False,
) -> ProbeRecord | None:
    """Raise ``ModelLoadError`` if ``model`` crashes llama.cpp; probe it first if never tried.

    Returns the record that allowed the load (None for a known-good file). ``force``
    probes again whatever the cache says. A probe that takes too long is reported but
    not remembered: a slow disk is not the model's fault.
    """
    version = llama_cpp_version()
    cache = ProbeCache(paths)
    if not force:
        if (model.sha256, version) in KNOWN_GOOD:
            return None
        record = cache.get(model.sha256, version)
        if record is not None:
            if not record.ok:
                raise ModelLoadError(record.problem(model.id))
            return record
    with _probe_lock:
        log.info("Trying %s in a child process before loading it", model.id)
        outcome = run_probe(model.path, cancel=cancel)
    if outcome.timed_out:
        raise ModelLoadError(
            f"{model.id} did not finish loading in a test run within "
            f"{outcome.seconds:.0f} s, so Driftless did not load it. If the disk is slow "
            "or the computer busy, try again later; otherwise choose another model."
        )
    record = _record(model.sha256, version, outcome)
    cache.put(record)
    log.info("Probe of %s: %s in %.2f s", model.id, record.how, outcome.seconds)
    if not record.ok:
        raise ModelLoadError(record.problem(model.id))
    return record


def _record(sha256: str, version: str, outcome: ProbeOutcome) -> ProbeRecord:
    clean = "loaded" if outcome.returncode == 0 else "refused"
    how = outcome.how if outcome.crashed else clean
    return ProbeRecord(
        sha256=sha256,
        llama_cpp=version,
        ok=not outcome.crashed,
        how=how,
        detail=outcome.detail if outcome.crashed else "",
        probed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(outcome.seconds, 3),
    )
