"""The embedder a collection is pinned to: an installed GGUF model, pooled its own way.

:class:`ModelEmbedder` leases the model's weights from the model host (user
"documents"; an embeddings context of one sequence, counted in the memory budget) and
turns texts into float32 vectors with the model's own tokenizer and its begin-of-text
token. A text longer than the context is cut to it (passages are far shorter; a long
query is too).

How a model embeds depends on what it is (:func:`default_settings`):

- **An embedding model** (its GGUF names a pooling type, as bge and nomic-embed do):
  llama.cpp's pooling of the last layer as the GGUF names it (BGE: its first token;
  Nomic Embed: the mean), scaled to length 1, as ``/v1/embeddings``.
- **A chat model** (the starter, any decoder): the mean of an early layer's outputs
  (a fifth of the way up: layer 6 of the starter's 30), over its 16-bit copy of the
  weights, standardised per collection at search time. A chat model's last layers
  predict the next word; its early layers hold what the text is about, and stopping
  there skips four fifths of the work. On the pydoc set (bench/bench_docs.py) this
  found the right file among the top 3 for 24 of 40 questions where the last layer's
  llama.cpp mean found 12, and embedded about 15x faster (the F16 copy is multiplied
  in tiled batches; the starter's Q4_1 file a row at a time).

A chat model can also echo (:class:`EmbedSettings` ``echo``; :mod:`app.core.models.embedder`):
each text said twice, the second copy pooled. Off for new collections (:data:`ECHO`): on
the whole pydoc pages it tied the default on the tuning questions and lost a top-3 place
on the first held-out set (README, "Quality").

Embedding runs on the CPU whatever the "GPU layers" setting says: a GPU's kernels round
differently, and a collection's vectors must be the same bits wherever a passage is
embedded. Whatever was chosen is recorded with the collection (:class:`EmbedderInfo`: layer,
weights form, scaling); an embedder opened for an existing collection adopts the
recorded settings of the same weights (:meth:`ModelEmbedder.adopt`), so a collection
made before a default changed keeps its vectors comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.core.cancel import CancelToken
from app.core.docs.records import EmbedderInfo, Vectors
from app.core.models.embedder import LeasedEmbedder, is_embedding_model
from app.core.models.gguf import GGUFInfo, read_gguf
from app.core.models.store import ModelStore

N_CTX = 512
"""Tokens an embedded text may have: a passage of 900 characters is about 250."""
USER = "documents"
LAYER_FRACTION = 0.2
"""Which layer a chat model's vectors pool, as a share of its depth (see the docstring)."""
ECHO = False
"""Whether a new collection's chat-model embedder says each passage twice and pools the
second copy (:mod:`app.core.models.embedder`); what a collection recorded is kept."""


@dataclass(frozen=True)
class EmbedSettings:
    """How a model embeds: recorded with a collection as part of its embedder."""

    layer: int | None
    weights: str
    """``file`` or ``f16``: the form asked for (the copy may not be possible)."""
    scaling: str
    echo: bool = False
    """Each text said twice, the second copy pooled (only with a ``layer``)."""


def default_settings(info: GGUFInfo) -> EmbedSettings:
    """The recommended way for this model to embed (see the module's docstring)."""
    if is_embedding_model(info):
        return EmbedSettings(layer=None, weights="file", scaling="unit")
    depth = info.metadata.get(f"{info.architecture or ''}.block_count")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 3:
        return EmbedSettings(layer=None, weights="file", scaling="unit")
    layer = min(depth - 2, max(0, round(depth * LAYER_FRACTION)))
    return EmbedSettings(layer=layer, weights="f16", scaling="standardized", echo=ECHO)


def settings_of(info: EmbedderInfo) -> EmbedSettings:
    return EmbedSettings(
        layer=info.layer, weights=info.weights, scaling=info.scaling, echo=info.echo
    )


class ModelEmbedder:
    """Vectors from an installed model's weights, leased from the model host. One owner
    thread (llama.cpp contexts are not thread-safe); close when done."""

    def __init__(
        self,
        store: ModelStore,
        ref: str | None,
        *,
        n_threads: int | None = None,
        settings: EmbedSettings | None = None,
        echo: bool | None = None,
    ) -> None:
        # One thread unless told: on the 2-core test machine, busy with other work, one
        # thread embedded far faster than two (2.95 against 0.37 passages a second,
        # measured at a load average of 11); on an idle machine two are faster.
        self._store = store
        self._threads = n_threads or 1
        self._leased: LeasedEmbedder | None = None
        self._echo = echo
        """Echo as asked (None: as the settings or defaults say); kept through adopt()."""
        self._open(ref, settings)

    def _open(self, ref: str | None, settings: EmbedSettings | None) -> None:
        model = self._store.resolve(ref)
        wanted = settings or default_settings(read_gguf(model.path))
        if self._echo is not None:
            wanted = replace(wanted, echo=self._echo)
        leased = LeasedEmbedder(
            self._store,
            model,
            user=USER,
            n_ctx=N_CTX,
            n_threads=self._threads,
            layer=wanted.layer,
            f16=wanted.weights == "f16",
            echo=wanted.echo and wanted.layer is not None,
        )
        self._leased = leased
        held = leased.held
        self.info = EmbedderInfo(
            model_id=held.model.id,
            lock_id=held.model.lock_id,
            sha256=held.model.sha256,
            pooling=leased.pooling,
            n_ctx=leased.n_ctx,
            dims=leased.n_embd,
            layer=wanted.layer,
            weights="f16" if held.weights.unpacked else "file",
            scaling=wanted.scaling,
            echo=leased.echo,
        )

    def adopt(self, recorded: EmbedderInfo) -> None:
        """Embed as ``recorded`` says, when it names these same weights with other
        settings (a collection made before a default changed); else leave as is. Echo
        asked for explicitly is kept: a collection recorded the other way is then
        refused, its vectors never mixed."""
        if recorded.sha256 != self.info.sha256 or recorded.same_vectors(self.info):
            return
        if self._echo is not None and recorded.echo != self.info.echo:
            return
        model_id = self.info.model_id
        self.close()
        self._open(model_id, settings_of(recorded))

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text`` with its begin-of-text token (as the API's
        embeddings), special markers read as plain text."""
        return self._open_embedder().tokenize(text)

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Vectors:
        rows, _cut = self._open_embedder().embed(texts, cancel)
        return rows

    def _open_embedder(self) -> LeasedEmbedder:
        if self._leased is None:
            raise RuntimeError("The embedder has been closed.")
        return self._leased

    def close(self) -> None:
        leased, self._leased = self._leased, None
        if leased is not None:
            leased.close()


__all__ = ["EmbedSettings", "ModelEmbedder", "default_settings", "is_embedding_model"]
