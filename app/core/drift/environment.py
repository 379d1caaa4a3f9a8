"""The environment an answer was given in, and which parts of two environments differ.

Each part is a named text value, so a check set from an older or newer Driftless still
compares (a part one side lacks is reported as "not recorded"). Parts are grouped by
what they are:

- ``model``: which weights and which chat template (the model's identity);
- ``runtime``: llama-cpp-python, the llama.cpp build, the CPU features its kernels use, and
  the backend the weights ran on (the CPU, or a GPU's backend, device and driver);
- ``setting``: thread count, batch size, the weights evaluated (the file or a 16-bit copy),
  how the prompt cache was used.

On this stack some settings change greedy answers and some do not (README,
"Determinism"): :data:`CHANGES_ANSWERS` names the ones measured to change them, so a
report can say "different weights (16-bit copy)" rather than just "drift".
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["model", "runtime", "setting"]

PARTS: dict[str, tuple[Kind, str]] = {
    "model_id": ("model", "model"),
    "lock_id": ("model", "lock id"),
    "model_sha256": ("model", "model file sha256"),
    "chat_template_sha256": ("model", "chat template sha256"),
    "llama_cpp_python": ("runtime", "llama-cpp-python version"),
    "llama_cpp": ("runtime", "llama.cpp build"),
    "system_info": ("runtime", "CPU features and kernels (llama_print_system_info)"),
    "backend": ("runtime", "backend (CPU, or GPU device and driver)"),
    "gpu_layers": ("setting", "layers offloaded to the GPU"),
    "chat_threads": ("setting", "chat thread count"),
    "chat_batch": ("setting", "chat batch size"),
    "chat_weights": ("setting", "chat weights"),
    "prompt_cache": ("setting", "prompt cache"),
    "classify_threads": ("setting", "classification thread count"),
    "classify_weights": ("setting", "classification weights"),
    "classifier": ("setting", "classifier"),
}

DOCS_EMBEDDER = "docs_embedder "
"""Part ``docs_embedder NAME``: a document collection's pinned embedder (retrieval items)."""
DOCS_VERSION = "docs_version "
"""Part ``docs_version NAME``: the collection's version, which changes with its files."""

CHANGES_ANSWERS = frozenset({"chat_weights", "classify_weights", "gpu_layers"})
"""Settings measured to change answers on this stack (bench/bench_drift.py, README
"Determinism"): the 16-bit copy instead of the quantised file changed 5 of 6 greedy
replies. Thread count (1 vs 2), batch size (8 vs 512) and a warm prompt cache changed
none; they are recorded and reported ("chat thread count: 1 -> 2") but not blamed when
something else differs too. Layers offloaded to a GPU are computed by other kernels
(README, "GPU offload", measured on lavapipe)."""

IGNORED_FOR_DRIFT = frozenset({"model_id"})
"""The id is a name in one data folder; the lock id and sha256 say which model it is."""


@dataclass(frozen=True)
class Difference:
    part: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> Kind:
        return _described(self.part)[0]

    @property
    def label(self) -> str:
        return _described(self.part)[1]

    @property
    def changes_answers(self) -> bool:
        """Whether this part alone is known to change answers (model and runtime parts may)."""
        return self.part in CHANGES_ANSWERS or self.kind in ("model", "runtime")

    def sentence(self) -> str:
        before = self.before if self.before is not None else "not recorded"
        after = self.after if self.after is not None else "not recorded"
        return f"{self.label}: {before} -> {after}"

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "label": self.label,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class Environment:
    """Named parts (see :data:`PARTS`), all as text."""

    parts: Mapping[str, str]

    def get(self, part: str) -> str | None:
        return self.parts.get(part)

    def merged(self, **parts: str) -> Environment:
        return Environment({**self.parts, **parts})

    def to_json(self) -> dict[str, str]:
        return dict(sorted(self.parts.items()))

    @classmethod
    def from_json(cls, data: Any) -> Environment:
        if not isinstance(data, Mapping):
            raise TypeError("the environment is not a JSON object")
        return cls({str(k): str(v) for k, v in data.items()})

    def differences(self, other: Environment) -> list[Difference]:
        """The parts that differ between ``self`` (before) and ``other`` (after).

        A part only one side recorded counts only when the other side could have
        recorded it (a check set without prompts records no chat settings).
        """
        result = []
        for part in sorted(set(self.parts) | set(other.parts), key=_order):
            if part in IGNORED_FOR_DRIFT:
                continue
            before, after = self.parts.get(part), other.parts.get(part)
            if before is None or after is None:
                continue
            if before != after:
                result.append(Difference(part, before, after))
        return result


def _described(part: str) -> tuple[Kind, str]:
    if part in PARTS:
        return PARTS[part]
    if part.startswith(DOCS_EMBEDDER):
        return "model", f"embedder of the collection '{part[len(DOCS_EMBEDDER) :]}'"
    if part.startswith(DOCS_VERSION):
        return "model", f"version of the collection '{part[len(DOCS_VERSION) :]}' (its files)"
    return "setting", part


def _order(part: str) -> tuple[int, str]:
    names = list(PARTS)
    return (names.index(part) if part in names else len(names), part)


RUNTIME_PARTS = tuple(part for part, (kind, _label) in PARTS.items() if kind == "runtime")


def runtime_of(environment: Environment | Mapping[str, str]) -> dict[str, str]:
    """The runtime parts (llama-cpp-python, llama.cpp build, CPU kernels) of an environment."""
    parts = environment.parts if isinstance(environment, Environment) else environment
    return {part: parts[part] for part in RUNTIME_PARTS if part in parts}


def runtime_parts() -> dict[str, str]:
    """llama-cpp-python's version, the llama.cpp build and the CPU features it uses."""
    from app.core.runtime.llama import import_llama_cpp

    lib = import_llama_cpp()
    version = getattr(lib, "__version__", "unknown")
    build = "unknown"
    # An older binding without llama_version: the package version still says a lot.
    with contextlib.suppress(Exception):
        build = lib.llama_version().decode("utf-8", "replace")
    info = lib.llama_print_system_info().decode("utf-8", "replace")
    return {
        "llama_cpp_python": str(version),
        "llama_cpp": build,
        "system_info": " ".join(info.split()),
    }
