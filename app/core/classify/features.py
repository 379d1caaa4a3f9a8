"""Which features a taught head reads: layers and pooling of a chat model, or an encoder's vector.

A :class:`FeatureSpec` is part of a head's identity (its file name and its record): a
head is only ever applied to features read the same way. A chat model's features are
means over the text and the last prompt token's state at chosen layers; a sentence
encoder's are its pooled sentence vector (:data:`POOLED`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.classify.prompt import PromptStyle


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a head reads; part of its identity.

    ``mean_layers``: layers whose states are averaged over the text's tokens;
    ``last_layers``: layers whose state at the last prompt token is kept.
    """

    mean_layers: tuple[int, ...]
    last_layers: tuple[int, ...] = ()
    style: PromptStyle = "plain"
    with_scores: bool = False
    """Add the prompt's calibrated label probabilities (costs the rest of the model)."""
    pooled: bool = False
    """A sentence encoder's pooled vector of the text (no prompt, no layers chosen)."""

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.mean_layers) | set(self.last_layers)))

    @property
    def id(self) -> str:
        if self.pooled:
            return "pooled"
        means = "-".join(str(n) for n in self.mean_layers)
        lasts = "-".join(str(n) for n in self.last_layers)
        return f"{self.style}-m{means}-l{lasts}{'-s' if self.with_scores else ''}"

    def select(self, pooled: npt.NDArray[np.float32], n_embd: int) -> npt.NDArray[np.float32]:
        """Pick this spec's blocks from the runner's [mean, last] per layer (in layer order)."""
        blocks = []
        for i, layer in enumerate(self.layers):
            if layer in self.mean_layers:
                blocks.append(pooled[2 * i * n_embd : (2 * i + 1) * n_embd])
            if layer in self.last_layers:
                blocks.append(pooled[(2 * i + 1) * n_embd : (2 * i + 2) * n_embd])
        return np.concatenate(blocks)


POOLED = FeatureSpec(mean_layers=(), pooled=True)
"""The features of a head taught on a sentence encoder: its pooled sentence vector."""

DEFAULT_MEAN_DEPTHS = (0.4, 0.6)
DEFAULT_LAST_DEPTHS = (0.6,)
"""Where the default features are read, as fractions of the model's depth: on the
starter model (30 layers), the mean over the text at layers 12 and 17 and the last
token at layer 17. Measured on held-out SST-2 and Banking77 rows, middle layers
separate sentiment and intent better than the last ones (whose states are shaped
for predicting the next token), and llama.cpp can stop after layer 17."""


def _at(n_layer: int, depths: tuple[float, ...]) -> tuple[int, ...]:
    last = max(0, n_layer - 2)  # the last layer is not readable (see runtime)
    return tuple(sorted({min(last, max(0, round(f * (n_layer - 1)))) for f in depths}))


def default_spec(n_layer: int) -> FeatureSpec:
    """The default features for a model with ``n_layer`` layers."""
    return FeatureSpec(
        mean_layers=_at(n_layer, DEFAULT_MEAN_DEPTHS), last_layers=_at(n_layer, DEFAULT_LAST_DEPTHS)
    )


WIDE_MEAN_DEPTHS = (0.2, 0.3, 0.4, 0.5, 0.6)


def candidate_specs(n_layer: int) -> list[FeatureSpec]:
    """The features a head chooses between by validation, the default first. Reading
    both costs what the default does (the model stops at 0.6 of its depth); the wide
    one, every tenth of the depth from 0.2, won on Gemma 3 270M's SST-2 (bench/README.md)."""
    wide = FeatureSpec(
        mean_layers=_at(n_layer, WIDE_MEAN_DEPTHS), last_layers=_at(n_layer, DEFAULT_LAST_DEPTHS)
    )
    default = default_spec(n_layer)
    return [default] if wide == default else [default, wide]


def block_columns(read: FeatureSpec, want: FeatureSpec, n_embd: int) -> npt.NDArray[np.int64]:
    """The columns of features read with ``read`` that ``want`` consists of, in its order."""
    offsets: dict[tuple[int, str], int] = {}
    position = 0
    for layer in read.layers:
        for kind, layers in (("m", read.mean_layers), ("l", read.last_layers)):
            if layer in layers:
                offsets[(layer, kind)] = position
                position += n_embd
    columns = []
    for layer in want.layers:
        for kind, layers in (("m", want.mean_layers), ("l", want.last_layers)):
            if layer in layers:
                start = offsets[(layer, kind)]
                columns.append(np.arange(start, start + n_embd))
    return np.concatenate(columns)


__all__ = [
    "DEFAULT_LAST_DEPTHS",
    "DEFAULT_MEAN_DEPTHS",
    "POOLED",
    "WIDE_MEAN_DEPTHS",
    "FeatureSpec",
    "block_columns",
    "candidate_specs",
    "default_spec",
]
