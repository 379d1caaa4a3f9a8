"""Hidden states read while llama.cpp evaluates a batch, for the taught head.

llama.cpp calls an eval callback for every node of the graph, first asking whether the
caller wants the node's data and, if so, again once it is computed. The runner wants
``l_out-N``, the output of layer N, for each chosen layer; returning False after the
deepest one tells llama.cpp to skip the rest of the graph, which is how reading
features saves the model's last layers and its output matrix.

The callback runs inside ``llama_decode`` on the thread that called it: the runner's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

import numpy as np
import numpy.typing as npt

from app.core.classify.errors import ClassifyError
from app.core.runtime.ggml import tensor_functions

FloatArray = npt.NDArray[np.float32]


class HiddenStates:
    """The layers to read, and what was read during one ``llama_decode``."""

    def __init__(self, lib: ModuleType, *, n_embd: int, n_layer: int, model_name: str) -> None:
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.model_name = model_name
        self.layers: tuple[int, ...] = ()
        self._wanted: dict[str, int] = {}
        self._capturing = False
        self._stop_after = -1  # the layer after which llama.cpp may stop computing
        self._captured: dict[int, list[FloatArray]] = {}
        self._ggml = tensor_functions(lib)
        self.callback = lib.ggml_backend_sched_eval_callback(self._on_tensor)
        """Give to the context's ``cb_eval``; it must live as long as the context."""

    def choose(self, layers: Sequence[int]) -> None:
        """Read these layers (0 is the first; the last cannot be, see ModelRunner.run)."""
        chosen = tuple(sorted(set(layers)))
        last = self.n_layer - 2
        bad = [n for n in chosen if not 0 <= n <= last]
        if bad:
            raise ClassifyError(
                f"Layer {bad[0]} cannot be read: {self.model_name} has layers 0 to {last} "
                "before its last one."
            )
        self.layers = chosen
        self._wanted = {f"l_out-{n}": n for n in chosen}

    @contextmanager
    def reading(self, *, capture: bool, stop_early: bool) -> Iterator[None]:
        """Around one ``llama_decode``: read the chosen layers if ``capture``."""
        self._captured = {n: [] for n in self.layers}
        self._capturing = capture and bool(self.layers)
        self._stop_after = self.layers[-1] if self._capturing and stop_early else -1
        try:
            yield
        finally:
            self._capturing = False
            self._stop_after = -1

    def take(self, n_tokens: int) -> list[FloatArray]:
        """Per chosen layer, one row per token of the batch just evaluated."""
        layers = []
        for layer in self.layers:
            parts = self._captured.get(layer) or []
            rows = np.concatenate(parts) if parts else np.zeros((0, self.n_embd), np.float32)
            if rows.shape[0] != n_tokens:
                raise ClassifyError(
                    f"llama.cpp returned {rows.shape[0]} hidden states of layer {layer} for "
                    f"{n_tokens} tokens; this model cannot be used for taught classification."
                )
            layers.append(rows)
        self._captured = {}
        return layers

    def _on_tensor(self, tensor: int, ask: bool, _data: object) -> bool:
        # Runs inside llama_decode on this thread, once per graph node (twice when wanted).
        if not self._capturing:
            return False
        name = self._ggml.get_name(tensor)
        layer = self._wanted.get(name.decode("ascii", "replace") if name else "")
        if ask:
            return layer is not None
        if layer is not None:
            count = self._ggml.nelements(tensor)
            values = np.empty(count, dtype=np.float32)
            self._ggml.tensor_get(tensor, values.ctypes.data, 0, self._ggml.nbytes(tensor))
            self._captured[layer].append(values.reshape(-1, self.n_embd))
            if layer == self._stop_after:
                return False  # the rest of the graph is not needed: skip it
        return True
