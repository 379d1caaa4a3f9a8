"""The model host: every llama.cpp model of the process, loaded once and leased out.

A loaded model is two things with different owners (STYLE §11). The **weights**
(llama.cpp's ``llama_model``, with any quantisation llama.cpp repacked on load) are large,
read-only and belong to the process: the host loads them once per file and weights form
(:class:`WeightsKey`) and hands out :class:`Lease` objects. The **state** (a
``llama_context``: a chat's KV cache, an embeddings context, classification's batch of
sequences) is small, mutable and belongs to one lease holder, who makes it over
``lease.handle`` and tells the host its size (:meth:`Lease.add_context`).

**One budget.** Whatever decides "can this load?" sees everything already loaded: the
weights and contexts held, against the memory budget (a setting; by default what the
machine has free plus what the host already holds). Layers offloaded to a GPU are in the
device's memory, not the computer's: they are counted apart (:attr:`HeldModel.device_bytes`),
and the loading pipeline checks the device's free memory when it chooses how many layers
to offload (:mod:`app.core.runtime.gpu`). When a new model or context does not
fit, models nobody leases are unloaded first, oldest first; if it still does not fit the
caller gets :class:`MemoryBudgetExceeded`, one sentence with the figures and who holds the
memory, never the OOM killer.

**Warm models.** A model whose last lease is released stays loaded for ``idle_seconds``
(the next chat, request or check finds it ready), then a timer unloads it; sooner when
its memory is needed.

The host never touches the model store: :mod:`app.core.models.loading` is the one
pipeline (resolve the id, the store's checks, the probe) that ends in :meth:`acquire`.
Thread-safe: loads happen under the host's lock, one at a time, so two features asking
for the same file at once load it once.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from app.core import machine
from app.core.errors import ModelLoadError
from app.core.runtime.llama import (
    LLAMA_LOAD_LOCK,
    clear_native_errors,
    import_llama_cpp,
    last_native_error,
)
from app.core.units import human_size

log = logging.getLogger(__name__)

DEFAULT_IDLE_SECONDS = 300.0
ABANDONED_DELAY = 2.0
"""The soonest the weights of a lease dropped without release() are freed: its holder's
contexts are collected with it, in whatever order the garbage collector picks."""


class MemoryBudgetExceeded(ModelLoadError):
    """A model or context does not fit the memory budget, even with idle models unloaded."""

    def __init__(self, message: str, *, needed: int, free: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free


@dataclass(frozen=True)
class WeightsKey:
    """What makes two loads the same weights: the file's content, the form it is evaluated
    in (``file`` as it is, ``f16`` for classification's unpacked copy) and the file read.
    Load options that would change the weights belong here too."""

    sha256: str
    form: str
    path: str
    placement: str = "cpu"
    """Where the weights live: ``cpu``, or the GPU backend, device and layers offloaded
    (:attr:`app.core.runtime.gpu.Offload.key`): the same file offloaded is other weights."""


@dataclass(frozen=True)
class HeldModel:
    """A snapshot of one loaded model, for the budget's sentence, tests and the UI."""

    key: WeightsKey
    model_id: str
    weights_bytes: int
    context_bytes: int
    leases: int
    users: tuple[str, ...]
    loads: int
    device_bytes: int = 0
    """Of ``weights_bytes``, what is in a GPU's memory (offloaded layers)."""


@dataclass
class _Entry:
    key: WeightsKey
    model_id: str
    handle: Any
    weights_bytes: int
    load_seconds: float
    device_bytes: int = 0
    leases: dict[int, str] = field(default_factory=dict)  # lease id -> user
    contexts: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (user, bytes)
    released_at: float = 0.0
    timer: threading.Timer | None = None

    @property
    def context_bytes(self) -> int:
        return sum(size for _user, size in self.contexts.values())

    @property
    def total(self) -> int:
        """What this model holds of the computer's memory (offloaded layers are not)."""
        return self.weights_bytes - self.device_bytes + self.context_bytes


class Lease:
    """One holder's use of shared weights. Make contexts over :attr:`handle`; release when
    done (or use as a context manager). A released lease must not be used again."""

    def __init__(
        self, host: ModelHost, entry: _Entry, lease_id: int, user: str, load_seconds: float
    ) -> None:
        self._host = host
        self._entry = entry
        self.id = lease_id
        self.user = user
        self.lib: ModuleType = host.lib
        self.released = False
        self.load_seconds = load_seconds
        """How long the weights took to load (0.0 when another holder had them loaded)."""
        # A holder dropped without release() (a window closed without its worker's
        # shutdown) gives the weights back when it is collected; the model is then
        # freed after a short delay at the soonest, once its contexts are gone too.
        self._finalizer = weakref.finalize(self, host._release, entry, lease_id, abandoned=True)
        self._finalizer.atexit = False

    @property
    def key(self) -> WeightsKey:
        return self._entry.key

    @property
    def handle(self) -> Any:
        """The ``llama_model`` pointer: read-only, shared with every other lease."""
        if self.released:
            raise RuntimeError("This lease was released; acquire the model again.")
        return self._entry.handle

    def add_context(self, nbytes: int, what: str | None = None) -> int:
        """Count a context of about ``nbytes`` against the budget before making it.

        Raises :class:`MemoryBudgetExceeded` when it does not fit. Returns an id for
        :meth:`drop_context`.
        """
        return self._host._add_context(self._entry, what or self.user, nbytes)

    def drop_context(self, context_id: int) -> None:
        self._host._drop_context(self._entry, context_id)

    def release(self) -> None:
        """Give the weights back (safe to call twice). Contexts counted by this lease must
        have been freed and dropped before."""
        if not self.released:
            self.released = True
            self._finalizer.detach()
            self._host._release(self._entry, self.id)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class ModelHost:
    """Every loaded model of a process. Most code uses :func:`default_host`."""

    def __init__(
        self,
        *,
        budget: int | None = None,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        available: Callable[[], int | None] | None = None,
    ) -> None:
        self.budget = budget
        """The most memory, in bytes, that models and contexts may hold; None: what the
        machine has free (plus what the host already holds)."""
        self.idle_seconds = idle_seconds
        self._available = available
        self._entries: dict[WeightsKey, _Entry] = {}
        self._loads: dict[WeightsKey, int] = {}
        self._lock = threading.RLock()
        self._next_id = 0
        self._lib: ModuleType | None = None

    @property
    def lib(self) -> ModuleType:
        if self._lib is None:
            self._lib = import_llama_cpp()
            self._lib.llama_backend_init()
        return self._lib

    # -- what is held --

    def holds(self, key: WeightsKey) -> bool:
        with self._lock:
            return key in self._entries

    def held(self) -> list[HeldModel]:
        with self._lock:
            return [
                HeldModel(
                    key=e.key,
                    model_id=e.model_id,
                    weights_bytes=e.weights_bytes,
                    context_bytes=e.context_bytes,
                    leases=len(e.leases),
                    users=tuple(sorted(set(e.leases.values()))),
                    loads=self._loads.get(e.key, 0),
                    device_bytes=e.device_bytes,
                )
                for e in self._entries.values()
            ]

    def loads(self, sha256: str | None = None, *, path: str | None = None) -> int:
        """How many times weights were loaded: in all, of one file's content, or of one
        file on disk."""
        with self._lock:
            return sum(
                n
                for key, n in self._loads.items()
                if sha256 in (None, key.sha256) and path in (None, key.path)
            )

    def in_use(self) -> int:
        """Bytes of the computer's memory held: every loaded model's weights (less what is
        offloaded to a GPU) and every counted context."""
        with self._lock:
            return sum(e.total for e in self._entries.values())

    def device_in_use(self) -> int:
        """Bytes of GPU memory held by offloaded layers."""
        with self._lock:
            return sum(e.device_bytes for e in self._entries.values())

    # -- leasing --

    def acquire(
        self,
        key: WeightsKey,
        *,
        model_id: str,
        user: str,
        weights_bytes: int,
        context_bytes: int = 0,
        model_params: Callable[[ModuleType], Any] | None = None,
        check: Callable[[Any, ModuleType], None] | None = None,
        explain: Callable[[str], str] | None = None,
        device_share: float = 0.0,
    ) -> Lease:
        """A lease on ``key``'s weights, loading them if no one holds them yet.

        ``weights_bytes`` is the estimate the budget checks before loading (the file's
        size; the held figure is then llama.cpp's own count). ``context_bytes`` is what
        the caller's first context will need, checked at the same time so a load that
        leaves no room for its context is refused before it starts. ``check`` runs on a
        freshly loaded handle (it raises to refuse the model; the weights are then freed).
        ``explain`` turns what llama.cpp logged about a failed load into the sentence.
        ``device_share``: the part of the weights offloaded to a GPU (0 to 1), counted in
        the device's memory rather than the budget; ``model_params`` must ask for it.
        """
        with self._lock:
            entry = self._entries.get(key)
            loaded_now = entry is None
            if entry is None:
                on_host = int(weights_bytes * (1.0 - device_share))
                self._make_room(model_id, on_host + context_bytes)
                entry = self._load(key, model_id, weights_bytes, model_params, check, explain)
                entry.device_bytes = int(entry.weights_bytes * device_share)
            elif context_bytes:
                self._make_room(model_id, context_bytes, keep=entry)
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None
            self._next_id += 1
            lease = Lease(
                self, entry, self._next_id, user, entry.load_seconds if loaded_now else 0.0
            )
            entry.leases[lease.id] = user
            return lease

    def unload_idle(self) -> int:
        """Unload every model nobody leases now; returns how many were unloaded."""
        with self._lock:
            idle = [e for e in self._entries.values() if not e.leases]
            for entry in idle:
                self._free(entry)
            return len(idle)

    # -- internals (under the lock) --

    def _load(
        self,
        key: WeightsKey,
        model_id: str,
        estimate: int,
        model_params: Callable[[ModuleType], Any] | None,
        check: Callable[[Any, ModuleType], None] | None,
        explain: Callable[[str], str] | None,
    ) -> _Entry:
        lib = self.lib
        if model_params is not None:
            params = model_params(lib)
        else:
            params = lib.llama_model_default_params()
            params.n_gpu_layers = 0  # llama.cpp's default (-1) offloads every layer
        started = time.perf_counter()
        with LLAMA_LOAD_LOCK:
            clear_native_errors()
            try:
                handle = lib.llama_model_load_from_file(str(key.path).encode(), params)
            except MemoryError as exc:
                raise ModelLoadError(
                    f"There is not enough memory to load {model_id}. Close other programs, "
                    "or choose a smaller model."
                ) from exc
        if not handle:
            native = last_native_error("it could not be read")
            if explain is not None:
                raise ModelLoadError(explain(native))
            raise ModelLoadError(f"llama.cpp could not load {model_id}: {native}.")
        if check is not None:
            try:
                check(handle, lib)
            except BaseException:
                lib.llama_model_free(handle)
                raise
        size = int(lib.llama_model_size(handle)) or estimate
        entry = _Entry(key, model_id, handle, size, time.perf_counter() - started)
        self._entries[key] = entry
        self._loads[key] = self._loads.get(key, 0) + 1
        log.info(
            "Loaded %s (%s, %s, %s) in %.2f s",
            model_id,
            key.form,
            "on the CPU" if key.placement == "cpu" else f"offloaded {key.placement}",
            human_size(size),
            entry.load_seconds,
        )
        return entry

    def _free(self, entry: _Entry) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        self._entries.pop(entry.key, None)
        if entry.handle is not None:
            self.lib.llama_model_free(entry.handle)
            entry.handle = None
        log.info("Unloaded %s (%s)", entry.model_id, entry.key.form)

    def _free_bytes(self) -> int | None:
        """What may still be used: the budget less what is held, and never more than the
        machine has free (weights already loaded are part of neither)."""
        held = sum(e.total for e in self._entries.values())
        room: int | None = None if self.budget is None else self.budget - held
        available = (self._available or machine.available_memory)()
        if available is not None:
            room = available if room is None else min(room, available)
        return room

    def _make_room(self, model_id: str, needed: int, keep: _Entry | None = None) -> None:
        free = self._free_bytes()
        if free is None or needed <= free:
            return
        idle = sorted(
            (e for e in self._entries.values() if not e.leases and e is not keep),
            key=lambda e: e.released_at,
        )
        for entry in idle:
            self._free(entry)
            free += entry.total  # the machine gets it back too
            if needed <= free:
                return
        raise MemoryBudgetExceeded(
            self._sentence(model_id, needed, max(0, free)), needed=needed, free=max(0, free)
        )

    def _sentence(self, model_id: str, needed: int, free: int) -> str:
        within = (
            f" within Driftless' memory budget of {human_size(self.budget)}"
            if self.budget is not None
            else ""
        )
        text = (
            f"{model_id} needs {human_size(needed)} of memory; {human_size(free)} is free{within}."
        )
        holders = [
            f"{e.model_id} ({human_size(e.total)}, for {', '.join(sorted(set(e.leases.values())))})"
            for e in self._entries.values()
            if e.leases
        ]
        if holders:
            text += (
                f" Loaded now: {'; '.join(holders)}. Stop the API server or close what uses "
                "them, or choose"
            )
        else:
            text += " Choose"
        return (
            f"{text} a smaller model or a smaller context, close other programs, or raise "
            "the memory budget in Settings."
        )

    def _add_context(self, entry: _Entry, user: str, nbytes: int) -> int:
        with self._lock:
            self._make_room(entry.model_id, nbytes, keep=entry)
            self._next_id += 1
            entry.contexts[self._next_id] = (user, max(0, nbytes))
            return self._next_id

    def _drop_context(self, entry: _Entry, context_id: int) -> None:
        with self._lock:
            entry.contexts.pop(context_id, None)

    def _release(self, entry: _Entry, lease_id: int, *, abandoned: bool = False) -> None:
        with self._lock:
            entry.leases.pop(lease_id, None)
            if entry.leases or entry.key not in self._entries:
                return
            entry.contexts.clear()
            entry.released_at = time.monotonic()
            if self.idle_seconds <= 0 and not abandoned:
                self._free(entry)
                return
            delay = max(self.idle_seconds, ABANDONED_DELAY if abandoned else 0.0)
            timer = threading.Timer(delay, self._expire, args=(entry,))
            timer.daemon = True
            entry.timer = timer
            timer.start()

    def _expire(self, entry: _Entry) -> None:
        with self._lock:
            if entry.timer is None or entry.leases or entry.key not in self._entries:
                return
            entry.timer = None
            self._free(entry)


_default: ModelHost | None = None
_default_lock = threading.Lock()


def default_host() -> ModelHost:
    """The process's host, shared by the window, the API server, the CLI and checks."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ModelHost()
        return _default


def configure_default_host(*, budget: int | None, idle_seconds: float | None = None) -> ModelHost:
    """Apply the settings' memory budget and idle time to the process's host."""
    host = default_host()
    with host._lock:
        host.budget = budget
        if idle_seconds is not None:
            host.idle_seconds = idle_seconds
    return host
