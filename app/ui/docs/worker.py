"""The documents thread: searches with the collection's pinned embedder, and removals.

Searching embeds the query, so it owns a model context: one :class:`DocsWorker` on a
thread of its own (the kit in :mod:`app.ui.model_worker`) keeps the embedder of the
collection last searched open, so the next query does not load it again. Indexing is
a separate background :class:`~app.ui.tasks.Task` (:func:`index_collection`): it opens
its own embedder on its own thread, and a search can run while a folder is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.docs.library import IndexReport
from app.core.docs.records import CollectionInfo, DocsError, Hit, TextEmbedder
from app.core.docs.walk import Skip
from app.core.errors import DriftlessError
from app.ui.doc_access import DocsAccess
from app.ui.model_worker import ModelWorker
from app.ui.tasks import Task


@dataclass(frozen=True)
class SearchRequest:
    request_id: int
    collection: str
    query: str
    top: int
    cancel: CancelToken


@dataclass(frozen=True)
class SearchResult:
    collection: str
    query: str
    hits: list[Hit]
    note: str = ""
    """Why the search was by keywords alone (the embedder could not be opened), if so."""


@dataclass(frozen=True)
class RemoveRequest:
    request_id: int
    collection: str
    cancel: CancelToken


@dataclass(frozen=True)
class IndexJob:
    """Add ``paths`` to ``collection`` (made with ``embedder`` when new); no paths: a
    Refresh; ``reembed``: embed every passage again with ``embedder`` (no file read)."""

    collection: str
    paths: tuple[Path, ...] = ()
    embedder: str | None = None
    reembed: bool = False


@dataclass(frozen=True)
class IndexProgress:
    stage: str  # "reading" (files) or "re-embedding" (passages)
    done: int
    total: int


@dataclass(frozen=True)
class IndexOutcome:
    report: IndexReport
    info: CollectionInfo
    skipped: list[Skip] = field(default_factory=list)


def index_collection(docs: DocsAccess, job: IndexJob, task: Task) -> IndexOutcome:
    """Read a job's folders into its collection (a Task's call, on a pool thread)."""
    library = docs.library

    def report(stage: str, done: int, total: int) -> None:
        task.report(IndexProgress(stage, done, total))

    if job.reembed:
        assert job.embedder is not None, "a re-embed names its embedder"
        result = library.reembed(
            job.collection,
            docs.open_embedder,
            job.embedder,
            on_progress=report,
            cancel=task.cancel_token,
        )
    elif job.paths:
        result = library.add(
            job.collection,
            list(job.paths),
            docs.open_embedder,
            embedder=job.embedder,
            on_progress=report,
            cancel=task.cancel_token,
        )
    else:
        result = library.refresh(
            job.collection, docs.open_embedder, on_progress=report, cancel=task.cancel_token
        )
    return IndexOutcome(result, library.get(job.collection), result.skipped)


class DocsWorker(ModelWorker):
    """Lives on the documents thread; searches and removals run here."""

    def __init__(self, docs: DocsAccess) -> None:
        super().__init__()
        self._docs = docs
        self._embedder: TextEmbedder | None = None

    def search(self, request: SearchRequest) -> None:
        self.guarded(request.request_id, lambda: self._search(request))

    def _search(self, request: SearchRequest) -> SearchResult:
        library = self._docs.library
        info = library.get(request.collection)
        note = ""
        embedder: TextEmbedder | None = None
        try:
            embedder = self._embedder_for(info)
        except DocsError:
            raise
        except DriftlessError as exc:
            note = (
                f"Searched by keywords alone: the collection's embedder "
                f"{info.embedder.model_id} could not be opened ({exc})"
            )
        request.cancel.raise_if_cancelled()
        hits = library.search(request.collection, request.query, embedder, top=request.top)
        return SearchResult(request.collection, request.query, hits, note)

    def _embedder_for(self, info: CollectionInfo) -> TextEmbedder:
        held = self._embedder
        if held is not None and held.info.same_vectors(info.embedder):
            return held
        self._close_embedder()
        self._embedder = self._docs.open_embedder(info.embedder.model_id)
        return self._embedder

    def remove(self, request: RemoveRequest) -> None:
        self.guarded(request.request_id, lambda: self._remove(request.collection))

    def _remove(self, name: str) -> str:
        self._docs.library.remove(name)
        return name

    def _close_embedder(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    def release(self) -> None:
        self._close_embedder()


def skipped_of(docs: DocsAccess, name: str) -> Sequence[Skip]:
    """The files a collection recorded as skipped, and why (a quick read)."""
    return docs.library.skipped(name)
