"""A sentence encoder, as teaching by examples reads it: one pooled vector per text.

A chat model is taught through :class:`~app.core.classify.runner.ModelRunner`: the label
set's prompt is evaluated once into the KV cache and each text's hidden states are read
after it. A sentence encoder (BGE, Nomic Embed, all-MiniLM: its GGUF names a pooling
type and its attention is not causal) has no prompt to share and is trained to make
one vector of a text, so :class:`EncoderReader` reads exactly that: the pooled sentence
vector, through the same leased embedder the documents feature uses
(:class:`~app.core.models.embedder.LeasedEmbedder`: the model host's weights, an
embeddings context of one sequence, on the CPU). The taught head's features are those
vectors (:data:`~app.core.classify.teach.POOLED`), so classifying later reads them the
same way, and the head records the encoder's lock id and sha256.

Prompted scoring needs a model that writes the next word: an encoder is refused for it
with a sentence (:data:`PROMPT_REFUSAL`). One thread owns a reader, like a runner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.classify.errors import ClassifyError
from app.core.classify.runner import RunnerInfo
from app.core.errors import DriftlessError
from app.core.fsutil import ProgressCallback
from app.core.models.embedder import LeasedEmbedder, is_embedding_model
from app.core.models.gguf import read_gguf
from app.core.models.store import InstalledModel, ModelStore

USER = "classification"
N_CTX = 512
"""Tokens of a text the encoder reads (BERT-sized encoders were trained on 512 at most);
longer texts are cut and the result says so."""
CHUNK = 64
"""Texts read between progress reports and cancel checks."""

PROMPT_REFUSAL = (
    "{model} is a sentence encoder: it makes one vector of a text and cannot score "
    "labels from a prompt. Choose 'Taught by examples' (--method examples with --train) "
    "to teach a head on its vectors, or a chat model for prompted scoring."
)


def is_encoder(model: InstalledModel) -> bool:
    """Whether ``model``'s file is a sentence encoder (reads its GGUF header). A file that
    cannot be read is left to the loader, which says why in its own sentence."""
    try:
        return is_embedding_model(read_gguf(model.path))
    except (OSError, DriftlessError):
        return False


class EncoderReader:
    """A sentence encoder opened for teaching and classifying by examples. Close when done."""

    def __init__(self, leased: LeasedEmbedder, n_threads: int) -> None:
        self._leased = leased
        held = leased.held
        self.info = RunnerInfo(
            model_id=held.model.id,
            lock_id=held.model.lock_id,
            name=held.model.model_name or held.model.filename,
            n_embd=leased.n_embd,
            n_layer=leased.n_layer,
            n_vocab=0,
            weights=held.weights.label,
            offload=held.offload,
            reader="encoder",
            sha256=held.model.sha256,
            pooling=leased.pooling,
        )
        self.threads = n_threads
        self._owner = threading.get_ident()

    @classmethod
    def open(
        cls,
        store: ModelStore,
        ref: str | InstalledModel | None,
        *,
        n_threads: int | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> EncoderReader:
        """Lease the encoder's weights from the model host, as the documents feature does.

        One thread unless told: texts are read one per decode, and on two shared cores
        one thread was the faster (bench/README.md)."""
        model = ref if isinstance(ref, InstalledModel) else store.resolve(ref)
        threads = n_threads or 1
        leased = LeasedEmbedder(
            store,
            model,
            user=USER,
            n_ctx=N_CTX,
            n_threads=threads,
            on_progress=on_progress,
            cancel=cancel,
        )
        return cls(leased, threads)

    def read(
        self,
        texts: Sequence[str],
        *,
        on_chunk: Callable[[int], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[bool]]:
        """Each text's pooled sentence vector (rows), and which texts were cut to fit."""
        self._check_thread()
        rows: list[npt.NDArray[np.float32]] = []
        truncated: list[bool] = []
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            vectors, cut = self._leased.embed(chunk, cancel)
            rows.append(vectors)
            truncated.extend(cut)
            if on_chunk is not None:
                on_chunk(start + len(chunk))
        if not rows:
            return np.zeros((0, self.info.n_embd), dtype=np.float32), []
        return np.concatenate(rows), truncated

    def set_threads(self, n_threads: int | None) -> None:
        self.threads = n_threads or 1
        self._leased.set_threads(self.threads)

    def close(self) -> None:
        self._leased.close()

    def __enter__(self) -> EncoderReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_thread(self) -> None:
        if self._leased.embedder is None:
            raise ClassifyError("The model has been closed.")
        if threading.get_ident() != self._owner:
            raise RuntimeError("An EncoderReader is used only from the thread that opened it.")
