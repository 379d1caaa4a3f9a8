"""Pooled text vectors from leased weights: what the documents feature and teaching share.

:class:`LeasedEmbedder` leases a model's weights from the model host (counted in its
memory budget under the user's name), adds an embeddings context of one sequence
(:class:`app.core.runtime.embedder.Embedder`) and turns texts into vectors with the
model's own tokenizer and begin-of-text token. :class:`app.core.docs.embedding.ModelEmbedder`
wraps it with a collection's settings; classification taught on a sentence encoder
(:mod:`app.core.classify.encoder`) reads its examples through it the same way.

A text longer than the context is cut to it, and :meth:`LeasedEmbedder.embed` says which were.

**Echo** (``echo=True``, a chat model pooled at a layer only): each text is said twice,
``text\ntext``, and only the second copy's positions are pooled (Springer et al. 2024,
"Repetition improves language model embeddings"). A decoder reads left to right, so in
a text said once the first words are pooled before they have seen the rest; in the
second copy every word has read the whole text. The context is opened twice as long
(``2 * n_ctx``), so a text that fits once fits twice: a text longer than that is cut
to the same tokens as without echo, and the cut text is said twice (never once: one
collection's vectors are all pooled the same way). An encoder reads both ways and never
echoes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.fsutil import ProgressCallback
from app.core.models.gguf import GGUFInfo
from app.core.models.loading import LoadedWeights, acquire, context_bytes
from app.core.models.store import InstalledModel, ModelStore
from app.core.runtime.embedder import Embedder
from app.core.runtime.llama import tokenize
from app.core.runtime.results import embedding_pooling

ENCODER_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "modern-bert"}
    | {"neo-bert", "t5encoder", "gte"}
)
"""llama.cpp's sentence-encoder architectures: what an installed model's recorded
architecture says before its header is read (the window's model list marks them)."""


def is_embedding_model(info: GGUFInfo) -> bool:
    """Whether the GGUF is an embedding model (names a pooling type, or is not causal)."""
    arch = info.architecture or ""
    meta = info.metadata
    return f"{arch}.pooling_type" in meta or meta.get(f"{arch}.attention.causal") is False


def is_encoder_architecture(architecture: str | None) -> bool:
    """Whether an installed model's architecture is a sentence encoder's (no header read)."""
    return (architecture or "").lower() in ENCODER_ARCHITECTURES


ECHO_SEPARATOR = "\n"
"""Between a text and its repetition (echo)."""


class LeasedEmbedder:
    """An embeddings context over leased weights. One owner thread; close when done.

    ``layer`` None pools as the model says (an encoder's own pooling, unit length);
    a number pools that layer's outputs (see :mod:`app.core.runtime.embedder`), and
    ``echo`` says each text twice and pools the second copy (see the module's docstring).
    """

    def __init__(
        self,
        store: ModelStore,
        model: InstalledModel,
        *,
        user: str,
        n_ctx: int,
        n_threads: int = 1,
        layer: int | None = None,
        f16: bool = False,
        echo: bool = False,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        if echo and layer is None:
            raise ValueError("Only a chat model pooled at a layer echoes its texts.")
        self.echo = echo
        scale = 2 if echo else 1
        held = acquire(
            store,
            model,
            user=user,
            context=lambda info: context_bytes(info, n_ctx * scale, n_ctx * scale),
            form="f16" if f16 else "file",
            threads=n_threads,
            on_progress=on_progress,
            cancel=cancel,
            # On the CPU always: a GPU's kernels round otherwise, and the same text must
            # give the same vector on every machine (a collection's passages, a head's rows).
            gpu_layers="0",
        )
        self.held: LoadedWeights = held
        self._released = False
        self._context_id: int | None = None
        try:
            size = min(n_ctx, held.model.context_length or n_ctx)
            room = min(size * scale, held.model.context_length or size * scale)
            self._context_id = held.lease.add_context(context_bytes(held.info, room, room))
            self.embedder: Embedder | None = Embedder(
                held.lease.lib,
                held.lease.handle,
                n_ctx=room,
                n_threads=n_threads,
                model_id=held.model.id,
                pooling=embedding_pooling(held.info.pooling),
                layer=layer,
            )
        except BaseException:
            self._release()
            raise
        self.n_ctx = size
        self.n_embd = self.embedder.n_embd
        self.n_layer = self.embedder.n_layer
        self.pooling = self.embedder.pooling
        self._lib = held.lease.lib
        self._vocab = self._lib.llama_model_get_vocab(held.lease.handle)
        self._separator = self.tokenize(ECHO_SEPARATOR, special=False) if echo else []

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """The model's tokens for ``text`` with its begin-of-text token (as the API's
        embeddings; ``special`` False: without it), special markers read as plain text."""
        return tokenize(self._lib, self._vocab, text, add_special=special, parse_special=False)

    def embed(
        self, texts: Sequence[str], cancel: CancelToken | None = None
    ) -> tuple[npt.NDArray[np.float32], list[bool]]:
        """One row per text, and whether each text was cut to the context."""
        embedder = self.embedder
        if embedder is None:
            raise RuntimeError("The embedder has been closed.")
        rows = np.zeros((len(texts), self.n_embd), dtype=np.float32)
        cut: list[bool] = []
        for index, text in enumerate(texts):
            if cancel is not None:
                cancel.raise_if_cancelled()
            tokens = self.tokenize(text) or self.tokenize(" ")
            if self.echo:
                rows[index], was_cut = self._echoed(embedder, tokens)
                cut.append(was_cut)
                continue
            cut.append(len(tokens) > self.n_ctx)
            rows[index] = embedder.embed(tokens[: self.n_ctx])
        return rows, cut

    def _echoed(self, embedder: Embedder, tokens: list[int]) -> tuple[npt.NDArray[Any], bool]:
        """``tokens`` said twice, the second copy pooled; and whether they were cut."""
        head = tokens[:1] if embedder.bos is not None and tokens[0] == embedder.bos else []
        body = tokens[len(head) :] or self.tokenize(" ", special=False)
        fits = (embedder.n_ctx - len(head) - len(self._separator)) // 2
        said = body[:fits]
        sequence = head + said + self._separator + said
        return embedder.embed(sequence, pool_from=len(sequence) - len(said)), len(body) > fits

    def set_threads(self, n_threads: int) -> None:
        if self.embedder is not None:
            self.embedder.set_threads(n_threads)

    def close(self) -> None:
        if self.embedder is not None:
            self.embedder.close()
            self.embedder = None
        self._release()

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._context_id is not None:
            self.held.lease.drop_context(self._context_id)
            self._context_id = None
        self.held.release()
