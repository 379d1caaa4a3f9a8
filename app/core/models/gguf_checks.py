"""Load safety beyond the header: the hyperparameters llama.cpp believes without checking.

A GGUF file can be well formed and still kill the process that loads it: llama.cpp
aborts on ``block_count = 0``, trips ``GGML_ASSERT(eps >= 0.0f)`` on a NaN epsilon, and
llama-cpp-python raises from deep inside on a context length of 0xFFFFFFFF. A Hub can
deliver such a file "sha256 verified", so every file :func:`app.core.models.gguf.read_gguf`
accepts also passes :func:`check_hyperparameters`: counts are whole numbers of at least 1,
floats are finite and epsilons positive, sizes stay under caps far above any real model,
special token ids fall inside the vocabulary, and the token embedding's shape agrees with
them. Only keys that are present are checked: a missing key is llama.cpp's to report, and
it does so with an error, not a crash.

Per-layer values may be arrays (hybrid models store 0 heads for their recurrent layers),
so an array of counts needs one value of at least 1, not all of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from app.core.errors import InvalidModelFile


class _Tensor(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> tuple[int, ...]: ...


class HeaderFacts(Protocol):
    """What the checks read of a parsed header (the reader's ``GGUFInfo`` has it all); a
    protocol, so this module needs nothing from the reader that calls it."""

    @property
    def path(self) -> Path: ...
    @property
    def metadata(self) -> Mapping[str, object]: ...
    @property
    def architecture(self) -> str | None: ...
    @property
    def tensors(self) -> Sequence[_Tensor]: ...


MAX_LAYERS = 512  # LLAMA_MAX_LAYERS
MAX_CONTEXT = 1 << 24  # 16,777,216 tokens; the longest real models claim 10 million
MAX_WIDTH = 1 << 18  # embedding and feed-forward sizes (the largest models use ~50,000)
MAX_HEADS = 1 << 12
MAX_HEAD_SIZE = 1 << 12
MAX_EXPERTS = 512  # LLAMA_MAX_EXPERTS
MAX_VOCAB = 1 << 24
MAX_EPSILON = 1.0

# (key suffix after "<arch>.", minimum, maximum): counts llama.cpp sizes tensors and loops by.
_COUNTS: tuple[tuple[str, int, int], ...] = (
    ("block_count", 1, MAX_LAYERS),
    ("context_length", 1, MAX_CONTEXT),
    ("embedding_length", 1, MAX_WIDTH),
    ("feed_forward_length", 0, MAX_WIDTH),
    ("expert_feed_forward_length", 0, MAX_WIDTH),
    ("attention.head_count", 1, MAX_HEADS),
    ("attention.head_count_kv", 1, MAX_HEADS),
    ("attention.key_length", 1, MAX_HEAD_SIZE),
    ("attention.value_length", 1, MAX_HEAD_SIZE),
    ("attention.sliding_window", 0, MAX_CONTEXT),
    ("rope.dimension_count", 0, MAX_HEAD_SIZE),
    ("expert_count", 0, MAX_EXPERTS),
    ("expert_used_count", 0, MAX_EXPERTS),
    ("vocab_size", 1, MAX_VOCAB),
)
_EPSILONS = (
    "attention.layer_norm_epsilon",
    "attention.layer_norm_rms_epsilon",
    "attention.group_norm_epsilon",
)
_SPECIAL_TOKEN = re.compile(r"^tokenizer\.ggml\.(\w+)_token_id$")
_BLOCK = re.compile(r"^blk\.(\d+)\.")


def check_hyperparameters(info: HeaderFacts) -> None:
    """Raise ``InvalidModelFile`` if a value llama.cpp trusts could crash or mislead it."""
    label = info.path.name or str(info.path)
    meta = info.metadata
    arch = info.architecture
    if arch is not None:
        for suffix, low, high in _COUNTS:
            _check_count(label, meta, f"{arch}.{suffix}", low, high)
        for suffix in _EPSILONS:
            _check_epsilon(label, meta, f"{arch}.{suffix}")
        _check_floats(label, meta, f"{arch}.")
        _check_experts(label, meta, arch)
    n_vocab = _vocab_size(label, meta)
    _check_special_tokens(label, meta, n_vocab)
    _check_tensors(label, info, n_vocab)


def _refuse(label: str, detail: str) -> InvalidModelFile:
    return InvalidModelFile(
        f"{label} cannot be loaded safely: {detail}. The file is damaged or was made "
        "wrongly; get the model again from its publisher, or choose another one."
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_count(label: str, meta: Mapping[str, object], key: str, low: int, high: int) -> None:
    value = meta.get(key)
    if value is None:
        return
    if isinstance(value, tuple):  # per layer
        if not value or not all(_is_int(v) for v in value):
            raise _refuse(label, f"{key} is not a list of whole numbers")
        items = [int(v) for v in value]
        bad = next((v for v in items if v < 0 or v > high), None)
        if bad is not None:
            raise _refuse(label, f"{key} holds {bad:,}, outside 0 to {high:,}")
        if low >= 1 and max(items) < 1:
            raise _refuse(label, f"{key} is 0 for every layer")
        return
    if not isinstance(value, int | float | str):
        return  # a per-layer array too long to keep (summarised); llama.cpp sizes it
    if not _is_int(value):
        raise _refuse(label, f"{key} is {value!r}, not a whole number")
    count = int(value)
    if count < low or count > high:
        shown = f"{count:,}" + (f" (0x{count:X})" if count > 0xFFFF else "")
        raise _refuse(label, f"{key} is {shown}; it must be between {low:,} and {high:,}")


def _check_epsilon(label: str, meta: Mapping[str, object], key: str) -> None:
    value = meta.get(key)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _refuse(label, f"{key} is {value!r}, not a number")
    if not math.isfinite(value) or not 0 < value < MAX_EPSILON:
        raise _refuse(label, f"{key} is {value!r}; it must be a small positive number")


def _check_floats(label: str, meta: Mapping[str, object], prefix: str) -> None:
    """Every float hyperparameter (rope bases, scales, soft-caps) must be finite."""
    for key, value in meta.items():
        if not key.startswith(prefix):
            continue
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise _refuse(label, f"{key} is {item!r}, not a finite number")


def _check_experts(label: str, meta: Mapping[str, object], arch: str) -> None:
    experts = meta.get(f"{arch}.expert_count")
    used = meta.get(f"{arch}.expert_used_count")
    if not (_is_int(experts) and _is_int(used)):
        return
    assert isinstance(experts, int) and isinstance(used, int)
    if used > experts or (experts > 0 and used < 1):
        raise _refuse(label, f"it uses {used:,} of {experts:,} experts per token, which cannot be")


def _vocab_size(label: str, meta: Mapping[str, object]) -> int | None:
    tokens = meta.get("tokenizer.ggml.tokens")
    if tokens is None:
        return None
    length = getattr(tokens, "length", None)
    n_vocab = length if isinstance(length, int) else len(tokens) if isinstance(tokens, tuple) else 0
    if n_vocab < 1:
        raise _refuse(label, "its vocabulary (tokenizer.ggml.tokens) is empty")
    if n_vocab > MAX_VOCAB:
        raise _refuse(label, f"its vocabulary has {n_vocab:,} tokens, more than {MAX_VOCAB:,}")
    return n_vocab


def _check_special_tokens(label: str, meta: Mapping[str, object], n_vocab: int | None) -> None:
    for key, value in meta.items():
        if not _SPECIAL_TOKEN.match(key):
            continue
        if not _is_int(value):
            raise _refuse(label, f"{key} is {value!r}, not a token id")
        token = int(value)  # type: ignore[call-overload]
        if token < 0 or (n_vocab is not None and token >= n_vocab):
            size = f"{n_vocab:,}" if n_vocab is not None else "its"
            raise _refuse(label, f"{key} is {token:,}, outside the {size} tokens of its vocabulary")


def _check_tensors(label: str, info: HeaderFacts, n_vocab: int | None) -> None:
    arch = info.architecture
    n_layer = info.metadata.get(f"{arch}.block_count") if arch else None
    n_embd = info.metadata.get(f"{arch}.embedding_length") if arch else None
    for tensor in info.tensors:
        block = _BLOCK.match(tensor.name)
        if block and _is_int(n_layer) and int(block.group(1)) >= int(n_layer):  # type: ignore[call-overload]
            raise _refuse(
                label,
                f"it has a tensor for layer {int(block.group(1)):,} ({tensor.name}) "
                f"but says it has {n_layer} layers",
            )
        if tensor.name == "token_embd.weight" and len(tensor.shape) == 2:
            width, rows = tensor.shape
            if _is_int(n_embd) and width != n_embd:
                raise _refuse(
                    label,
                    f"its token embedding is {width:,} wide but {arch}.embedding_length "
                    f"says {n_embd:,}",
                )
            if n_vocab is not None and rows != n_vocab:
                raise _refuse(
                    label,
                    f"its token embedding has {rows:,} rows for a vocabulary of {n_vocab:,} tokens",
                )
