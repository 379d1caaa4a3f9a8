"""Retrieval items of a check set: a query of a document collection, and the passages
(with their scores) that answered it.

A retrieval answer is the same when the same passages (file and character span) come
back in the same order with the same fused scores and the same cosine with the query (to
:data:`SCORE_TOLERANCE`): the embedder is pinned and makes the same bits for the same
text, so anything else is drift. The cosine is what shows another embedder (or runtime)
even when the ranks, and so the fused scores, happen to hold. The environment records
each collection's embedder (its weights, layer, form) and version, so a report says what
to suspect: an embedder switched by ``driftless docs add --reembed``, a new runtime, or a
collection whose files changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.docs.library import DocsLibrary, EmbedderFactory
from app.core.drift.environment import DOCS_EMBEDDER, DOCS_VERSION
from app.core.drift.jsonl import json_lines
from app.core.errors import DriftlessError

DEFAULT_TOP = 5
MAX_TOP = 50
SCORE_TOLERANCE = 1e-6


class RetrievalError(DriftlessError):
    """A retrieval item or its file cannot be used."""


@dataclass(frozen=True)
class RetrievalItem:
    id: str
    collection: str
    query: str
    top: int = DEFAULT_TOP

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "collection": self.collection, "query": self.query, "top": self.top}


@dataclass(frozen=True)
class RetrievedPassage:
    source: str
    start: int
    end: int
    score: float
    """The fused score: it depends on the ranks (and bm25 and cosine for score fusion)."""
    similarity: float | None = None
    """The cosine with the query: moves with the embedder even when the ranks hold."""

    @property
    def where(self) -> str:
        return f"{Path(self.source).name} {self.start}-{self.end}"

    def same_as(self, other: RetrievedPassage) -> bool:
        if (self.source, self.start, self.end) != (other.source, other.start, other.end):
            return False
        if abs(self.score - other.score) > SCORE_TOLERANCE:
            return False
        if (self.similarity is None) != (other.similarity is None):
            return False
        return (
            self.similarity is None
            or other.similarity is None
            or abs(self.similarity - other.similarity) <= SCORE_TOLERANCE
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "similarity": self.similarity,
        }


@dataclass(frozen=True)
class RetrievalAnswer:
    id: str
    passages: tuple[RetrievedPassage, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "passages": [p.to_json() for p in self.passages]}

    @classmethod
    def from_json(cls, data: Any) -> RetrievalAnswer:
        return cls(
            str(data["id"]),
            tuple(
                RetrievedPassage(
                    str(p["source"]),
                    int(p["start"]),
                    int(p["end"]),
                    float(p["score"]),
                    None if p.get("similarity") is None else float(p["similarity"]),
                )
                for p in data["passages"]
            ),
        )


@dataclass(frozen=True)
class RetrievalChange:
    id: str
    collection: str
    query: str
    first_difference: int
    """The first rank (0-based) whose passage or score differs."""
    before: tuple[RetrievedPassage, ...]
    after: tuple[RetrievedPassage, ...]

    @property
    def kind(self) -> str:
        same = [(p.source, p.start, p.end) for p in self.before] == [
            (p.source, p.start, p.end) for p in self.after
        ]
        return "scores" if same else "passages"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collection": self.collection,
            "query": self.query,
            "kind": self.kind,
            "first_difference": self.first_difference,
            "before": [p.to_json() for p in self.before],
            "after": [p.to_json() for p in self.after],
        }


def item_from_json(data: Any) -> RetrievalItem:
    return RetrievalItem(
        str(data["id"]), str(data["collection"]), str(data["query"]), int(data.get("top", 5))
    )


def read_retrieval(path: Path, make_id: Callable[..., str]) -> tuple[RetrievalItem, ...]:
    """``{"collection": NAME, "query": TEXT, "top": K}`` one JSON object a line."""
    items: dict[str, RetrievalItem] = {}
    example = '{"collection": "help", "query": "refund policy", "top": 5}'
    for number, data in json_lines(path, "retrieval", example, RetrievalError):
        if not isinstance(data, dict):
            raise RetrievalError(f"Line {number} of {Path(path).name} is not a JSON object.")
        collection, query, top = data.get("collection"), data.get("query"), data.get("top", 5)
        if not isinstance(collection, str) or not collection:
            raise RetrievalError(f'Line {number} of {Path(path).name} names no "collection".')
        if not isinstance(query, str) or not query.strip():
            raise RetrievalError(f'Line {number} of {Path(path).name} has no "query" text.')
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            raise RetrievalError(
                f'The "top" of line {number} of {Path(path).name} must be 1 to {MAX_TOP}.'
            )
        item = RetrievalItem(
            make_id("retrieval", collection, query, str(top)), collection, query, top
        )
        items.setdefault(item.id, item)
    if not items:
        raise RetrievalError(f"{Path(path).name} holds no retrieval queries.")
    return tuple(items.values())


def answer_retrieval(
    documents: Path,
    items: Sequence[RetrievalItem],
    open_embedder: EmbedderFactory,
    step: Callable[[], None],
    cancel: CancelToken | None = None,
) -> tuple[tuple[RetrievalAnswer, ...], dict[str, str]]:
    """Search each item's collection (with its pinned embedder, opened once per
    collection); the answers, and each collection's embedder and version."""
    library = DocsLibrary(documents)
    answers: list[RetrievalAnswer] = []
    parts: dict[str, str] = {}
    try:
        by_collection: dict[str, list[RetrievalItem]] = {}
        for item in items:
            by_collection.setdefault(item.collection, []).append(item)
        found: dict[str, RetrievalAnswer] = {}
        for name, asked in by_collection.items():
            info = library.get(name)
            embedder = open_embedder(info.embedder.model_id)
            try:
                for item in asked:
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    hits = library.search(name, item.query, embedder, top=item.top)
                    found[item.id] = RetrievalAnswer(
                        item.id,
                        tuple(
                            RetrievedPassage(h.source, h.start, h.end, h.score, h.similarity)
                            for h in hits
                        ),
                    )
                    step()
            finally:
                embedder.close()
            pinned = info.embedder
            parts[DOCS_EMBEDDER + name] = f"{pinned.describe()} sha256 {pinned.sha256}"
            parts[DOCS_VERSION + name] = str(info.version)
        answers = [found[item.id] for item in items]
    finally:
        library.close()
    return tuple(answers), parts


def retrieval_change(
    item: RetrievalItem, before: RetrievalAnswer, after: RetrievalAnswer
) -> RetrievalChange | None:
    old, new = before.passages, after.passages
    for rank in range(max(len(old), len(new))):
        if rank >= len(old) or rank >= len(new):
            break
        if not old[rank].same_as(new[rank]):
            break
    else:
        return None
    return RetrievalChange(item.id, item.collection, item.query, rank, old, new)
