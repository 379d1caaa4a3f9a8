"""The one way a model is loaded: resolve, check, probe, budget, load once, lease.

Chat, the API's pools, embeddings, classification, behaviour checks and cluster actors
all end here, so every load makes the same checks in the same order:

1. resolve the id (the active model when none is named) in the store;
2. the store's check before a load (size, mtime, a re-hash when due, the GGUF header);
3. for a file never loaded on this llama.cpp, a load in a child process
   (:mod:`app.core.models.probe`), skipped when the weights are already in memory;
4. the memory budget, against everything the process already holds
   (:mod:`app.core.runtime.host`), with room for the caller's first context;
5. the load itself, once per file, weights form and placement, under the host's lock.

**GPU offload.** The "GPU layers" choice (a setting per model, or the caller's:
``auto``, ``all``, ``0`` or a count) is turned into a number of layers here, against the
GPU llama.cpp found and its free memory after the caller's context
(:func:`app.core.runtime.gpu.layers_for`). A load that fails on the GPU is made again on
the CPU, and :attr:`LoadedWeights.offload` says so in a sentence (``note``); it never
fails the load.

The caller gets a :class:`LoadedWeights`: the lease on the shared weights, the model's
store record, its GGUF header and where the weights run. It makes its own context over
``lease.handle``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from app.core.cancel import CancelToken
from app.core.errors import ModelLoadError
from app.core.fsutil import ProgressCallback
from app.core.models.gguf import GGUFInfo, read_gguf
from app.core.models.probe import ensure_loadable
from app.core.models.store import InstalledModel, ModelStore
from app.core.models.unpacked import UnpackedCache, Weights, main_type, unpacked_size
from app.core.paths import Paths
from app.core.runtime import gpu
from app.core.runtime.gpu import CPU, Offload
from app.core.runtime.host import (
    Lease,
    MemoryBudgetExceeded,
    ModelHost,
    WeightsKey,
    configure_default_host,
    default_host,
)
from app.core.settings import (
    SettingsError,
    gpu_layers_for,
    load_settings,
    parse_gpu_layers,
)

log = logging.getLogger(__name__)

Form = Literal["file", "f16"]


@dataclass(frozen=True)
class LoadedWeights:
    """A lease on a model's weights, with what callers need to know about them."""

    lease: Lease
    model: InstalledModel
    info: GGUFInfo
    weights: Weights
    offload: Offload = field(default=CPU)
    """Where the weights run: the CPU, or the GPU and how many layers are on it."""

    def release(self) -> None:
        self.lease.release()


def kv_cache_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """An estimate of the f16 KV cache for ``n_ctx`` tokens (0 when the header is unclear)."""
    arch = info.architecture or ""
    meta = info.metadata

    def number(key: str) -> int:
        value = meta.get(f"{arch}.{key}")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    layers, embed, heads = (
        number("block_count"),
        number("embedding_length"),
        number("attention.head_count"),
    )
    kv_heads = number("attention.head_count_kv") or heads
    if not (layers and embed and heads):
        return 0
    return 2 * 2 * n_ctx * layers * kv_heads * (embed // heads)


def context_bytes(info: GGUFInfo, n_ctx: int, n_batch: int, *, outputs: int = 1) -> int:
    """An estimate of a context's memory: its KV cache, its logits for ``outputs`` rows,
    and a compute buffer that grows with the batch (hidden states of every token)."""
    arch = info.architecture or ""
    embed = info.metadata.get(f"{arch}.embedding_length")
    n_embd = embed if isinstance(embed, int) else 0
    vocab = info.metadata.get("tokenizer.ggml.tokens")
    n_vocab = len(vocab) if isinstance(vocab, list) else 0
    compute = n_batch * n_embd * 4 * 8
    return kv_cache_bytes(info, n_ctx) + outputs * n_vocab * 4 + compute


def acquire(
    store: ModelStore,
    ref: str | InstalledModel | None,
    *,
    user: str,
    context: Callable[[GGUFInfo], int] | None = None,
    form: Form = "file",
    threads: int = 1,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    host: ModelHost | None = None,
    gpu_layers: str | None = None,
) -> LoadedWeights:
    """Check and lease ``ref``'s weights (the active model's when None).

    ``user`` names the holder in the budget's sentence ("chat", "the API server",
    "classification"...). ``context(info)`` estimates the caller's first context so a
    load that leaves no room for it is refused before it starts. ``form`` "f16" asks for
    classification's 16-bit copy, made on first use when it is faster for this model
    (else the file as it is; ``weights.note`` says why). ``gpu_layers``: the "GPU
    layers" choice; None, the settings' for this model.
    """
    model = ref if isinstance(ref, InstalledModel) else store.resolve(ref)
    model, info = store.checked_for_load(model.id, on_progress=on_progress, cancel=cancel)
    if cancel is not None:
        cancel.raise_if_cancelled()
    host = host or configured_host(store.paths)
    if gpu_layers is None:
        gpu_layers = gpu_layers_for(load_settings(store.paths), model.id)
    if not host.holds(_key(model, Weights(model.path, "", unpacked=False))):
        # A file new to this llama.cpp is tried in a child process first.
        ensure_loadable(store.paths, model, cancel=cancel)
    return acquire_checked(
        model,
        store.paths.unpacked_dir,
        user=user,
        context=context,
        form=form,
        threads=threads,
        cancel=cancel,
        host=host,
        info=info,
        gpu_layers=gpu_layers,
    )


def acquire_checked(
    model: InstalledModel,
    unpacked_dir: Path,
    *,
    user: str,
    context: Callable[[GGUFInfo], int] | None = None,
    form: Form = "file",
    threads: int = 1,
    cancel: CancelToken | None = None,
    host: ModelHost | None = None,
    info: GGUFInfo | None = None,
    gpu_layers: str = "0",
) -> LoadedWeights:
    """Lease ``model``'s weights, its file already verified by the caller (a cluster
    worker checks the sha256 against its lock entry itself); ``info`` is its header when
    the caller has read it already. ``gpu_layers``: the "GPU layers" choice (the CPU only
    unless asked)."""
    host = host or default_host()
    info = info or read_gguf(model.path)
    if cancel is not None:
        cancel.raise_if_cancelled()
    weights = Weights(model.path, main_type(info), unpacked=False)
    if form == "f16":
        weights = UnpackedCache(unpacked_dir).weights_for(
            model.path, model.sha256, info, host.lib, threads=threads
        )
        if cancel is not None:
            cancel.raise_if_cancelled()
    estimate = unpacked_size(info) if weights.unpacked else info.file_size
    needed = context(info) if context else 0
    offload, note = choose_offload(host, info, estimate, needed, parse_gpu_layers(gpu_layers))

    def lease_on(where: Offload) -> Lease:
        return host.acquire(
            _key(model, weights, where),
            model_id=model.id,
            user=user,
            weights_bytes=estimate,
            context_bytes=needed,
            model_params=lambda lib: model_params(lib, where),
            explain=lambda native: load_failure(model.id, info, native),
            device_share=where.layers / where.total_layers if where.on_gpu else 0.0,
        )

    if offload.on_gpu:
        try:
            return LoadedWeights(lease_on(offload), model, info, weights, offload)
        except MemoryBudgetExceeded:
            raise
        except ModelLoadError as exc:
            note = gpu_failure_note(offload, str(exc))
            log.warning("%s", note)
    return LoadedWeights(lease_on(CPU), model, info, weights, Offload(note=note))


def choose_offload(
    host: ModelHost, info: GGUFInfo, weights_bytes: int, context: int, choice: str
) -> tuple[Offload, str]:
    """Where to put the weights for the "GPU layers" ``choice``, and, when a GPU was asked
    for but none is used, why (empty otherwise)."""
    if choice == "0":
        return CPU, ""
    found = gpu.discover(host.lib)
    if not found.devices:
        # "auto" on a machine without a GPU is the normal case, not worth a note.
        return CPU, "" if choice == gpu.AUTO else f"No GPU is used: {found.cpu_only_reason}."
    device = max(found.devices, key=lambda d: d.memory_free)
    layers, why = gpu.layers_for(
        choice,
        block_count=block_count(info),
        file_size=weights_bytes,
        context_bytes=context,
        device=device,
    )
    log.info("GPU layers for %s: %s (%s)", info.path.name, layers, why)
    if layers <= 0:
        return CPU, ""
    return Offload(
        backend=device.backend,
        device=device.description,
        driver=device.driver,
        layers=layers,
        total_layers=block_count(info) + 1,
        device_name=device.name,
    ), ""


def model_params(lib: object, where: Offload) -> object:
    """llama.cpp's model parameters for weights placed at ``where``."""
    params = lib.llama_model_default_params()  # type: ignore[attr-defined]
    params.n_gpu_layers = where.layers if where.on_gpu else 0
    return params


def gpu_failure_note(offload: Offload, reason: str) -> str:
    return (
        f"The model could not be loaded on the GPU ({offload.device}: {reason.rstrip('.')}), "
        "so it runs on the CPU."
    )


def block_count(info: GGUFInfo) -> int:
    """The model's repeating layers (llama.cpp offloads those and the output layer)."""
    value = info.metadata.get(f"{info.architecture}.block_count")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def configured_host(paths: Paths) -> ModelHost:
    """The process's host with the memory budget and idle time of the settings (read at
    every load, so a change in Settings applies to the next one). The environment
    variable ``DRIFTLESS_MEMORY_BUDGET`` (MB) overrides the budget, for one run."""
    settings = load_settings(paths)
    budget_mb = settings.memory_budget_mb
    override = os.environ.get("DRIFTLESS_MEMORY_BUDGET", "").strip()
    if override:
        try:
            budget_mb = int(float(override))
        except ValueError:
            raise SettingsError(
                f"DRIFTLESS_MEMORY_BUDGET is '{override}'; give it in MB, for example 4096."
            ) from None
    return configure_default_host(
        budget=budget_mb * 1_000_000 if budget_mb > 0 else None,
        idle_seconds=settings.model_idle_seconds,
    )


def load_failure(model_id: str, info: GGUFInfo, native: str) -> str:
    """The sentence for weights llama.cpp would not load, from what it logged."""
    if "unknown model architecture" in native:
        return (
            f"{model_id} uses the model architecture '{info.architecture}', which this "
            "version of llama.cpp cannot run. Update Driftless, or choose another model."
        )
    return f"llama.cpp could not load {model_id} (architecture '{info.architecture}'): {native}."


def _key(model: InstalledModel, weights: Weights, where: Offload = CPU) -> WeightsKey:
    form = "f16" if weights.unpacked else "file"
    return WeightsKey(model.sha256, form, str(weights.path), where.key)
