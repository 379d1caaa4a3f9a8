"""The model, as classification uses it: a shared prefix, many texts per batch, labels scored.

One ``llama_decode`` batch carries several texts. Each text runs in sequences of its
own that also hold the shared prefix (the instruction and few-shot examples), which
is evaluated once into sequence 0 and shared by reference: the KV cache is unified,
so ``llama_memory_seq_cp`` only tags the prefix's cells with more sequence ids.

Labels are scored teacher-forced. Their token paths form a trie: a token shared by
several labels (``card`` in ``card_arrival`` and ``card_linking``) is evaluated once
and belongs to the sequences of every label passing through it, so one pass gives
``log p(label | prefix, text)`` for every label of every text in the batch.

Hidden states for the taught head are read while the graph runs (:mod:`.capture`): the
text's tokens are averaged per layer and the last token (where the answer starts) is
kept per layer.

One thread owns a runner; ``llama_cpp`` is imported lazily, when a model is opened.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.classify.capture import HiddenStates
from app.core.classify.errors import ClassifyError
from app.core.classify.scoring import LabelTrie, Query, log_softmax_rows, pool_features
from app.core.errors import ModelLoadError
from app.core.fsutil import ProgressCallback
from app.core.models.gguf import GGUFInfo
from app.core.models.loading import LoadedWeights, acquire, acquire_checked, context_bytes
from app.core.models.store import InstalledModel, ModelStore
from app.core.runtime.gpu import CPU, Offload
from app.core.runtime.llama import tokenize
from app.core.runtime.threads import ThreadTuner, thread_candidates

FloatArray = npt.NDArray[np.float32]

N_CTX = 4096
"""KV cells shared by the prefix and every text of a batch."""
N_BATCH = 2048
PACK_TOKENS = 128
"""Texts are packed into one llama_decode batch up to this many tokens. Several texts per
batch share the graph's fixed costs; every token of a batch also attends (masked) to
every cell in use, so very large batches lose again. On the starter model with 2 CPUs,
64 to 1024 tokens per batch were within 10 % of each other (bench/bench_classify.py):
the model's matrix products, not the batching, set the speed."""
N_UBATCH = 512
MAX_SEQUENCES = 256
MAX_TEXT_TOKENS = 1024
"""Longer texts are cut to their first tokens (and the result says so)."""


@dataclass(frozen=True)
class RunnerInfo:
    """The loaded model, as results record it."""

    model_id: str
    lock_id: str
    name: str
    n_embd: int
    n_layer: int
    n_vocab: int
    weights: str = ""
    """The weights evaluated: ``Q4_1`` (the file as it is) or ``F16 from Q4_1`` (unpacked)."""
    weights_note: str | None = None
    """Why the packed file is used though an unpacked copy was asked for."""
    offload: Offload = CPU
    """What the weights run on (the CPU, or a GPU and the layers on it)."""
    reader: str = "decoder"
    """How texts are read: ``decoder`` (a chat model after the label set's prompt,
    hidden states) or ``encoder`` (a sentence encoder's pooled vector; examples only)."""
    sha256: str = ""
    """The model file's sha256 (recorded by a head taught on an encoder)."""
    pooling: str = ""
    """An encoder's own pooling (``mean``, ``cls``, ``last``); empty for a decoder."""


@dataclass(frozen=True)
class QueryOutput:
    label_logprobs: FloatArray | None
    """log p(label tokens | prefix, text) for each label, in label order; or None."""
    features: FloatArray | None
    """Per chosen layer, the text's mean hidden state and the last token's; or None."""


class ModelRunner:
    """A model opened for classification. Use from one thread; close when done."""

    def __init__(
        self,
        lib: ModuleType,
        held: LoadedWeights,
        info: RunnerInfo,
        *,
        n_threads: int | None,
    ) -> None:
        self._lib = lib
        self._held = held
        model = held.lease.handle
        self.info = info
        self._vocab = lib.llama_model_get_vocab(model)
        self._states = HiddenStates(
            lib, n_embd=info.n_embd, n_layer=info.n_layer, model_name=info.name
        )
        self.set_threads(n_threads)
        self._threads = self._tuner.next()
        params = lib.llama_context_default_params()
        params.n_ctx = N_CTX
        params.n_batch = N_BATCH
        params.n_ubatch = N_UBATCH
        params.n_seq_max = MAX_SEQUENCES
        params.kv_unified = True
        params.n_threads = self._threads
        params.n_threads_batch = self._threads
        params.no_perf = True
        params.cb_eval = self._states.callback
        self._context_id = held.lease.add_context(_context_estimate(held.info))
        self._ctx = lib.llama_init_from_model(model, params)
        if not self._ctx:
            held.lease.drop_context(self._context_id)
            held.release()
            raise ModelLoadError(
                f"llama.cpp could not set up a classification context for {info.model_id}. "
                "There may not be enough memory: close other programs."
            )
        self._memory = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(N_BATCH, 0, MAX_SEQUENCES)
        self._prefix: tuple[int, ...] = ()
        self._trie: LabelTrie | None = None
        self._owner = threading.get_ident()
        self._closed = False

    # -- opening and closing --

    @classmethod
    def open(
        cls,
        store: ModelStore,
        ref: str | InstalledModel | None = None,
        *,
        n_threads: int | None = None,
        unpack: bool = True,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        gpu_layers: str | None = None,
    ) -> ModelRunner:
        """Check (size, hash if moved, GGUF header) and load a model; the active one if no ref.

        ``n_threads`` None lets the runner measure which thread count is fastest as it
        goes. ``unpack`` evaluates a 16-bit copy of a small model's weights when that
        is faster (:mod:`app.core.models.unpacked`); ``info.weights`` says which ran.
        """
        held = acquire(
            store,
            ref,
            user="classification",
            context=_context_estimate,
            form="f16" if unpack else "file",
            threads=n_threads or max(thread_candidates()),
            on_progress=on_progress,
            cancel=cancel,
            gpu_layers=gpu_layers,
        )
        return cls._over(held, n_threads)

    @classmethod
    def open_checked(
        cls,
        model: InstalledModel,
        unpacked_dir: Path,
        *,
        n_threads: int | None = None,
        unpack: bool = True,
        cancel: CancelToken | None = None,
    ) -> ModelRunner:
        """Load ``model`` whose file the caller has verified (a cluster worker checks its
        sha256 against the lock entry itself); ``unpacked_dir`` holds 16-bit copies."""
        held = acquire_checked(
            model,
            unpacked_dir,
            user="classification",
            context=_context_estimate,
            form="f16" if unpack else "file",
            threads=n_threads or max(thread_candidates()),
            cancel=cancel,
        )
        return cls._over(held, n_threads)

    @classmethod
    def _over(cls, held: LoadedWeights, n_threads: int | None) -> ModelRunner:
        """A runner with its own context over the leased weights."""
        try:
            lib = held.lease.lib
            handle = held.lease.handle
            model = held.model
            if lib.llama_model_is_recurrent(handle) or lib.llama_model_is_hybrid(handle):
                raise ModelLoadError(
                    f"{model.id} is a recurrent model ({held.info.architecture}); "
                    "classification shares one prompt between many texts, which these "
                    "models cannot do yet. Choose a transformer model."
                )
            vocab = lib.llama_model_get_vocab(handle)
            info = RunnerInfo(
                model_id=model.id,
                lock_id=model.lock_id,
                sha256=model.sha256,
                name=model.model_name or model.filename,
                n_embd=int(lib.llama_model_n_embd(handle)),
                n_layer=int(lib.llama_model_n_layer(handle)),
                n_vocab=int(lib.llama_vocab_n_tokens(vocab)),
                weights=held.weights.label,
                weights_note=held.weights.note,
                offload=held.offload,
            )
            return cls(lib, held, info, n_threads=n_threads)
        except BaseException:
            held.release()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)
        self._held.lease.drop_context(self._context_id)
        self._held.release()  # the host keeps the weights warm for the next run

    def __enter__(self) -> ModelRunner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- tokens --

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Tokens of ``text``; ``special`` parses markers like ``<|im_end|>`` (prompt only)."""
        return tokenize(self._lib, self._vocab, text, add_special=False, parse_special=special)

    def piece(self, token: int) -> str:
        buffer = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buffer, 64, 0, True)
        return buffer.raw[: max(0, n)].decode("utf-8", "replace")

    @property
    def bos(self) -> list[int]:
        """The begin-of-text token, when the model wants one."""
        if self._lib.llama_vocab_get_add_bos(self._vocab):
            return [int(self._lib.llama_vocab_bos(self._vocab))]
        return []

    # -- the shared part --

    def prepare(self, prefix: Sequence[int], labels: Sequence[Sequence[int]]) -> None:
        """Evaluate ``prefix`` once (unless it already is) and set the label paths to score."""
        self._check_thread()
        trie = LabelTrie(labels)
        if trie.n_slots + 1 > MAX_SEQUENCES:
            raise ClassifyError(
                f"{len(labels)} labels are too many to score at once; "
                f"use at most {MAX_SEQUENCES - 2}."
            )
        self._trie = trie
        prefix = tuple(prefix)
        if prefix == self._prefix:
            return
        if len(prefix) > N_CTX // 2:
            raise ClassifyError(
                f"The instruction and examples take {len(prefix):,} tokens; at most "
                f"{N_CTX // 2:,} fit. Shorten the instruction or use fewer examples."
            )
        self._lib.llama_memory_clear(self._memory, True)
        self._prefix = ()
        for start in range(0, len(prefix), N_BATCH):
            chunk = prefix[start : start + N_BATCH]
            self._fill([(tok, start + i, (0,), False) for i, tok in enumerate(chunk)])
            self._decode(capture=False)
        self._prefix = prefix

    def max_text_tokens(self, suffix_tokens: int) -> int:
        trie = self._require_trie()
        return min(MAX_TEXT_TOKENS, N_BATCH - len(trie.nodes) - suffix_tokens)

    # -- many texts --

    def run(
        self,
        queries: Sequence[Query],
        *,
        scores: bool = True,
        layers: Sequence[int] = (),
        cancel: CancelToken | None = None,
    ) -> list[QueryOutput]:
        """Label log-probabilities and/or hidden-state features for each query, in order.

        ``layers`` are read for features (0 is the first; the last layer cannot be, as
        llama.cpp keeps only the answer positions there). Without ``scores`` llama.cpp
        stops after the deepest layer read, which saves the rest of the model's work.
        """
        self._check_thread()
        trie = self._require_trie()
        self._states.choose(layers)
        features = bool(self._states.layers)
        if not (scores or features):
            raise ClassifyError("Nothing to compute: ask for scores, features or both.")
        extra = len(trie.nodes) if scores else 0
        slots_each = trie.n_slots if scores else 1
        outputs: list[QueryOutput] = []
        start = 0
        while start < len(queries):
            if cancel is not None:
                cancel.raise_if_cancelled()
            end = start
            tokens = 0
            slots = 0
            while end < len(queries):
                need = len(queries[end].tokens) + extra
                if end > start and (
                    tokens + need > PACK_TOKENS or slots + slots_each > MAX_SEQUENCES - 1
                ):
                    break
                tokens += need
                slots += slots_each
                end += 1
            self._use_threads(self._tuner.next())
            began = time.perf_counter()
            outputs.extend(self._run_batch(queries[start:end], trie, scores, features))
            self._tuner.record(self._threads, tokens, time.perf_counter() - began)
            start = end
        return outputs

    def _run_batch(
        self, queries: Sequence[Query], trie: LabelTrie, scores: bool, features: bool
    ) -> list[QueryOutput]:
        lib = self._lib
        base = len(self._prefix)
        n_slots = trie.n_slots if scores else 1
        entries: list[tuple[int, int, tuple[int, ...], bool]] = []
        layout: list[tuple[int, int]] = []  # per query: first entry, first output
        n_out = 0
        for q_index, query in enumerate(queries):
            if not query.tokens:
                raise ClassifyError("A text became empty after tokenizing; it cannot be scored.")
            seq0 = 1 + q_index * n_slots
            seqs = tuple(range(seq0, seq0 + n_slots))
            for seq in seqs:
                lib.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)
            layout.append((len(entries), n_out))
            last = len(query.tokens) - 1
            for i, tok in enumerate(query.tokens):
                entries.append((tok, base + i, seqs, scores and i == last))
            if not scores:
                continue
            n_out += 1
            for (tok, depth, _parent), slots in zip(trie.nodes, trie.node_seqs, strict=True):
                pos = base + len(query.tokens) + depth
                entries.append((tok, pos, tuple(seq0 + s for s in slots), True))
                n_out += 1
        self._fill(entries)
        try:
            self._decode(capture=features, stop_early=not scores)
            logprobs = None
            if scores:
                logits = np.ctypeslib.as_array(
                    lib.llama_get_logits(self._ctx), shape=(n_out, self.info.n_vocab)
                )
                logprobs = log_softmax_rows(logits)
            captured = self._states.take(len(entries)) if features else None
        finally:
            for seq in range(1, 1 + len(queries) * n_slots):
                lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
        results = []
        for query, (first_entry, first_out) in zip(queries, layout, strict=True):
            label_scores = None
            if logprobs is not None:
                label_scores = np.zeros(len(trie.paths), dtype=np.float32)
                for label, steps in enumerate(trie.steps):
                    total = 0.0
                    for node, tok in steps:
                        row = first_out if node < 0 else first_out + 1 + node
                        total += float(logprobs[row, tok])
                    label_scores[label] = total
            feats = pool_features(captured, first_entry, query) if captured is not None else None
            results.append(QueryOutput(label_scores, feats))
        return results

    # -- llama.cpp calls --

    def _use_threads(self, threads: int) -> None:
        if threads != self._threads:
            self._lib.llama_set_n_threads(self._ctx, threads, threads)
            self._threads = threads

    @property
    def threads(self) -> int:
        """The thread count the last batch ran on."""
        return self._threads

    def set_threads(self, n_threads: int | None) -> None:
        """Use ``n_threads`` from the next batch on; None: measure the fastest count."""
        self._tuner = ThreadTuner((n_threads,) if n_threads else thread_candidates())

    def _fill(self, entries: Sequence[tuple[int, int, tuple[int, ...], bool]]) -> None:
        batch = self._batch
        if len(entries) > N_BATCH:
            raise ClassifyError(f"A batch of {len(entries)} tokens is too big (max {N_BATCH}).")
        batch.n_tokens = len(entries)
        for i, (tok, pos, seqs, out) in enumerate(entries):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = len(seqs)
            seq_ids = batch.seq_id[i]
            for j, seq in enumerate(seqs):
                seq_ids[j] = seq
            batch.logits[i] = out

    def _decode(self, *, capture: bool, stop_early: bool = False) -> None:
        with self._states.reading(capture=capture, stop_early=stop_early):
            code = self._lib.llama_decode(self._ctx, self._batch)
        if code != 0:
            raise ClassifyError(
                f"llama.cpp could not evaluate a batch of texts (code {code}). "
                "Try shorter texts or fewer labels."
            )

    def _require_trie(self) -> LabelTrie:
        if self._trie is None:
            raise ClassifyError("Nothing to score yet: call prepare() with the labels first.")
        return self._trie

    def _check_thread(self) -> None:
        if self._closed:
            raise ClassifyError("The model has been closed.")
        if threading.get_ident() != self._owner:
            raise RuntimeError("A ModelRunner is used only from the thread that opened it.")


def _context_estimate(info: GGUFInfo) -> int:
    return context_bytes(info, N_CTX, N_UBATCH, outputs=MAX_SEQUENCES)
