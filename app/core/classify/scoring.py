"""Pure helpers of the runner: the query, the label trie, log-softmax, pooling hidden states.

Kept apart from :mod:`.runtime` (which talks to llama.cpp) so they can be read and
tested on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.classify.errors import ClassifyError

FloatArray = npt.NDArray[np.float32]


class LabelTrie:
    """Label token paths merged by common prefix; each node is one evaluated token."""

    def __init__(self, paths: Sequence[Sequence[int]]) -> None:
        if not paths or any(not p for p in paths):
            raise ClassifyError("Every label must have at least one token.")
        self.paths = [tuple(p) for p in paths]
        self.nodes: list[tuple[int, int, int]] = []  # (token, depth, parent node or -1)
        index: dict[tuple[int, ...], int] = {}
        # A label with one token is scored from the text's last position alone; longer
        # ones get a sequence each, so their branches do not see each other.
        self.branch_labels = [i for i, p in enumerate(self.paths) if len(p) > 1]
        self.node_seqs: list[list[int]] = []  # branch slots passing through each node
        self.steps: list[list[tuple[int, int]]] = []  # per label: (node or -1, token)
        for label, path in enumerate(self.paths):
            steps = [(-1, path[0])]
            for depth in range(1, len(path)):
                key = path[:depth]
                node = index.get(key)
                if node is None:
                    parent = index[key[:-1]] if depth > 1 else -1
                    node = len(self.nodes)
                    index[key] = node
                    self.nodes.append((key[-1], depth - 1, parent))
                    self.node_seqs.append([])
                slot = self.branch_labels.index(label)
                if slot not in self.node_seqs[node]:
                    self.node_seqs[node].append(slot)
                steps.append((node, path[depth]))
            self.steps.append(steps)

    @property
    def n_slots(self) -> int:
        return max(1, len(self.branch_labels))


@dataclass(frozen=True)
class Query:
    """One text to run after the shared prefix.

    ``tokens`` is the text followed by the prompt's suffix; ``pool`` the range of
    ``tokens`` (the text itself) whose hidden states are averaged.
    """

    tokens: tuple[int, ...]
    pool: tuple[int, int]


def pool_features(layers: Sequence[FloatArray], first_entry: int, query: Query) -> FloatArray:
    lo, hi = query.pool
    if hi <= lo:
        lo, hi = 0, len(query.tokens)
    last = first_entry + len(query.tokens) - 1
    parts = []
    for rows in layers:
        parts.append(rows[first_entry + lo : first_entry + hi].mean(axis=0))
        parts.append(rows[last])
    return np.concatenate(parts).astype(np.float32)


def log_softmax_rows(logits: npt.NDArray[np.float32]) -> FloatArray:
    peak = logits.max(axis=1, keepdims=True)
    shifted = logits - peak
    norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    result: FloatArray = (shifted - norm).astype(np.float32)
    return result
