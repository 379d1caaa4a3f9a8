"""Collections as a user sees them: add folders, refresh, remove, search.

Adding is incremental. A file whose size and mtime match what was recorded is not
opened; one whose sha256 matches is not read again (only its new mtime is recorded);
only new and changed files are read, cut into passages and embedded, each written in one
transaction. Files that were under an added folder and are gone lose their passages. A
file that cannot be read is recorded as skipped with the reason, and listed again on the
next add without being re-read while it is unchanged.

The embedder is pinned: a collection's vectors all come from the embedder it records.
Offering another is refused (:class:`EmbedderMismatch`) unless ``reembed`` is asked,
and then every passage is embedded again, kept beside the old vectors, and switched in
one transaction at the end: a search never sees two embedders' vectors mixed.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.docs.passages import Chunking, split_document
from app.core.docs.readers import MAX_FILE_BYTES, Unreadable, read_document
from app.core.docs.records import (
    CollectionInfo,
    DocsError,
    EmbedderInfo,
    EmbedderMismatch,
    Hit,
    TextEmbedder,
    search_title,
)
from app.core.docs.search import FUSION, VECTOR_WEIGHT, search
from app.core.docs.store import DocsStore, FileState
from app.core.docs.walk import Found, Skip, find_files
from app.core.units import human_size

EmbedderFactory = Callable[[str | None], TextEmbedder]
"""Opens the embedder for a model id (None: the active model)."""
Progress = Callable[[str, int, int], None]
"""(stage, done, total): stage is "re-embedding" (passages) or "reading" (files)."""

EMBED_BATCH = 32


def embedding_text(title: str, heading: str, text: str) -> str:
    """What is embedded for a passage: its file's title and its heading lead, so a
    paragraph is found by what the document and section are about."""
    return "\n".join(part for part in (title, heading, text) if part)


QUERY_ECHO_CHARS = 1000
"""A query longer than this is embedded once: twice it would not fit the context."""


def query_text(embedder: EmbedderInfo, query: str) -> str:
    """What is embedded for a query. A chat model pooled at an early layer (its
    ``layer`` recorded) reads left to right, so the first words of a query are pooled
    before they have seen the rest; said twice, the second copy's words have read the
    whole question (the idea of "echo embeddings", Springer et al. 2024, here without
    re-embedding the passages). On the pydoc set (bench/bench_docs.py, whole pages)
    the starter's vectors alone found the right file among the top 3 for 33 of 40
    tuning questions instead of 25, 25 of 30 held-out ones instead of 18, and 12 of 30
    of the second held-out set instead of 10. An embedding model reads both ways and
    is given the query as it is, and so is an embedder that echoes every text itself
    (``echo`` recorded)."""
    if embedder.layer is None or embedder.echo or len(query) > QUERY_ECHO_CHARS:
        return query
    return f"{query}\n{query}"


@dataclass
class IndexReport:
    collection: str
    read: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unsupported: int = 0
    truncated: str | None = None
    passages: int = 0
    bytes_read: int = 0
    reembedded: int = 0
    seconds: float = 0.0


class _Embedders:
    """The collection's embedder, opened only when there is something to embed."""

    def __init__(self, factory: EmbedderFactory, ref: str | None, expected: CollectionInfo | None):
        self._factory = factory
        self._ref = ref
        self._expected = expected
        self._open: TextEmbedder | None = None

    def get(self) -> TextEmbedder:
        if self._open is None:
            self._open = self._factory(self._ref)
            if self._expected is not None:
                check_embedder(self._expected, self._open)
        return self._open

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None


def check_embedder(collection: CollectionInfo, embedder: TextEmbedder) -> None:
    """Refuse an embedder that makes other vectors than the collection's. An embedder of
    the same weights with other settings is first asked to adopt the recorded ones (a
    collection made before a default changed; see ModelEmbedder.adopt)."""
    recorded = collection.embedder
    adopt = getattr(embedder, "adopt", None)
    if adopt is not None and not recorded.same_vectors(embedder.info):
        adopt(recorded)
    offered = embedder.info
    if not recorded.same_vectors(offered):
        raise EmbedderMismatch(
            f"The collection '{collection.name}' was embedded with {recorded.describe()}; "
            f"{offered.describe()} makes other vectors, and the two are never mixed. Add "
            "--reembed to embed every passage again with it, or use the recorded model."
        )


class DocsLibrary:
    """The document collections of one data folder."""

    def __init__(self, path: Path) -> None:
        self.store = DocsStore(path)

    def close(self) -> None:
        self.store.close()

    def collections(self) -> list[CollectionInfo]:
        return self.store.collections()

    def get(self, name: str) -> CollectionInfo:
        return self.store.get(name)

    def remove(self, name: str) -> None:
        self.store.remove(name)

    def skipped(self, name: str) -> list[Skip]:
        info = self.store.get(name)
        return [
            Skip(s.path, s.skipped)
            for s in self.store.file_states(info.id).values()
            if s.skipped is not None
        ]

    def add(
        self,
        name: str,
        roots: Sequence[Path],
        open_embedder: EmbedderFactory,
        *,
        embedder: str | None = None,
        reembed: bool = False,
        on_progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Index ``roots`` into ``name`` (made when new, with ``embedder`` or the active
        model); again, only what changed is read."""
        started = time.monotonic()
        report = IndexReport(name)
        if not _valid_name(name):
            raise DocsError(
                f"'{name}' cannot name a collection: use letters, digits, '-', '_' and '.', "
                "at most 64 characters."
            )
        existing = self.store.find(name)
        embedders: _Embedders
        if existing is None:
            first = open_embedder(embedder)
            embedders = _Embedders(open_embedder, embedder, None)
            embedders._open = first
            info = self.store.create(name, first.info, Chunking())
        elif embedder is not None or reembed:
            ref = embedder if embedder is not None else existing.embedder.model_id
            embedders = _Embedders(open_embedder, ref, None)
            offered = embedders.get()
            if reembed:
                try:
                    report.reembedded = self._reembed(existing, offered, on_progress, cancel)
                except BaseException:
                    embedders.close()
                    raise
            else:
                try:
                    check_embedder(existing, offered)
                except EmbedderMismatch:
                    embedders.close()
                    raise
            info = self.store.get(name)
        else:
            info = existing
            embedders = _Embedders(open_embedder, existing.embedder.model_id, existing)
        try:
            resolved = [str(Path(os.path.abspath(os.path.expanduser(r))).resolve()) for r in roots]
            self.store.add_roots(info.id, resolved)
            self._index(info, resolved, embedders, report, on_progress, cancel)
        finally:
            embedders.close()
        report.seconds = time.monotonic() - started
        return report

    def refresh(
        self,
        name: str,
        open_embedder: EmbedderFactory,
        *,
        on_progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Add the collection's folders again: changed files re-read, removed ones dropped."""
        info = self.store.get(name)
        roots = [Path(root) for root in info.roots]
        return self.add(name, roots, open_embedder, on_progress=on_progress, cancel=cancel)

    def reembed(
        self,
        name: str,
        open_embedder: EmbedderFactory,
        embedder: str,
        *,
        on_progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Embed every passage of ``name`` again with the model ``embedder`` and pin the
        collection to it; no file is read. Cancelled or failed, the collection keeps its
        old embedder and vectors, searchable as before."""
        return self.add(
            name,
            [],
            open_embedder,
            embedder=embedder,
            reembed=True,
            on_progress=on_progress,
            cancel=cancel,
        )

    def search(
        self,
        name: str,
        query: str,
        embedder: TextEmbedder | None,
        *,
        top: int = 5,
        mode: str = "hybrid",
        vector_weight: float | None = None,
        fusion: str | None = None,
    ) -> list[Hit]:
        """The best ``top`` passages; ``embedder`` must be the collection's (or None for
        keywords alone)."""
        info = self.store.get(name)
        vector = None
        if embedder is not None:
            check_embedder(info, embedder)
            vector = embedder.embed([query_text(info.embedder, query)])[0]
        return search(
            self.store,
            info.id,
            query,
            vector,
            top=top,
            mode=mode,
            vector_weight=VECTOR_WEIGHT if vector_weight is None else vector_weight,
            scaling=info.embedder.scaling,
            fusion=fusion or FUSION,
        )

    # --- the work --------------------------------------------------------------------

    def _reembed(
        self,
        info: CollectionInfo,
        embedder: TextEmbedder,
        on_progress: Progress | None,
        cancel: CancelToken | None,
    ) -> int:
        rows = self.store.passages_to_embed(info.id)
        try:
            for begin in range(0, len(rows), EMBED_BATCH):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                batch = rows[begin : begin + EMBED_BATCH]
                texts = [embedding_text(t, h, x) for _, t, h, x in batch]
                vectors = embedder.embed(texts, cancel)
                self.store.stage_vectors([pid for pid, *_ in batch], vectors)
                if on_progress:
                    on_progress("re-embedding", begin + len(batch), len(rows))
            self.store.switch_embedder(info.id, embedder.info)
        except BaseException:
            # Cancelled, failed or killed: the current vectors were never touched; the
            # half-made new ones are dropped so they take no room (a kill leaves them
            # staged, and the next re-embed writes over them before switching).
            self.store.clear_staged(info.id)
            raise
        return len(rows)

    def _index(
        self,
        info: CollectionInfo,
        roots: list[str],
        embedders: _Embedders,
        report: IndexReport,
        on_progress: Progress | None,
        cancel: CancelToken | None,
    ) -> None:
        found: Found = find_files([Path(root) for root in roots])
        report.skipped.extend(found.skipped)
        report.unsupported = found.unsupported
        report.truncated = found.truncated
        states = self.store.file_states(info.id)
        total = len(found.files)
        for done, path in enumerate(found.files, 1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            self._one_file(info, path, states.get(str(path)), embedders, report, cancel)
            if on_progress:
                on_progress("reading", done, total)
        if found.truncated is None:
            seen = {str(path) for path in found.files}
            gone = [
                path
                for path in states
                if path not in seen and any(_under(path, root) for root in roots)
            ]
            if gone:
                self.store.drop_files(info.id, gone)
                report.removed = gone

    def _one_file(
        self,
        info: CollectionInfo,
        path: Path,
        state: FileState | None,
        embedders: _Embedders,
        report: IndexReport,
        cancel: CancelToken | None,
    ) -> None:
        name = str(path)
        try:
            stat = path.stat()
        except OSError as exc:
            report.skipped.append(Skip(name, f"it cannot be read ({exc.strerror or exc})"))
            return
        size, mtime = stat.st_size, stat.st_mtime_ns
        if state is not None and (state.size, state.mtime_ns) == (size, mtime):
            if state.skipped is not None:
                report.skipped.append(Skip(name, state.skipped))
            else:
                report.unchanged += 1
            return
        if size > MAX_FILE_BYTES:
            reason = (
                f"it is {human_size(size)}, more than the {human_size(MAX_FILE_BYTES)} "
                "a document may have"
            )
            self.store.save_skipped(info.id, name, size=size, mtime_ns=mtime, reason=reason)
            report.skipped.append(Skip(name, reason))
            return
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            reason = (
                "it cannot be read (permission denied)"
                if isinstance(exc, PermissionError)
                else f"it cannot be read ({exc.strerror or exc})"
            )
            report.skipped.append(Skip(name, reason))
            return
        sha256 = hashlib.sha256(data).hexdigest()
        if state is not None and state.sha256 == sha256 and state.skipped is None:
            self.store.touch_file(state.id, size=size, mtime_ns=mtime)
            report.unchanged += 1
            return
        try:
            document = read_document(path, data)
            passages = split_document(document, info.chunking)
            if not passages:
                raise Unreadable("it holds too little text for a passage")
        except Unreadable as exc:
            self.store.save_skipped(info.id, name, size=size, mtime_ns=mtime, reason=str(exc))
            report.skipped.append(Skip(name, str(exc)))
            return
        title = search_title(document.title, name)
        embedder = embedders.get()
        vectors = embedder.embed(
            [embedding_text(title, p.heading, p.text) for p in passages], cancel
        )
        self.store.save_file(
            info.id,
            name,
            size=size,
            mtime_ns=mtime,
            sha256=sha256,
            kind=document.kind,
            encoding=document.encoding,
            title=document.title,
            passages=passages,
            vectors=vectors,
        )
        report.read.append(name)
        report.passages += len(passages)
        report.bytes_read += size


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _valid_name(name: str) -> bool:
    return (
        0 < len(name) <= 64
        and all(ch.isalnum() or ch in "-_." for ch in name)
        and not name.startswith(".")
    )
