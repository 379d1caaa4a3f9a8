"""Hybrid search: FTS5's bm25 and exact vector cosine, merged by reciprocal rank fusion.

Each list ranks the collection's passages its own way; a passage's fused score is
``sum(1 / (RRF_K + rank))`` over the lists it appears in (Cormack et al. 2009, k = 60,
as GPT4All's LocalDocs does), so neither score's scale matters, only the order.

Vectors are compared exactly: one matrix product over every passage's unit vector, in
numpy. At 100k passages of 576 floats that is a few tens of milliseconds on two cores
(``bench/bench_docs.py``), exact (nothing an approximate index could miss) and without
an extension SQLite would have to load (this Python's ``sqlite3`` cannot).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from app.core.docs.records import Hit
from app.core.docs.store import DocsStore, Ids, Matrix

RRF_K = 60
VECTOR_WEIGHT = 1.0
"""The vector list's share in the fusion, against 1 for keywords."""
DEPTH = 50
"""How many passages each list contributes to the fusion."""

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


def match_expression(query: str) -> str | None:
    """An FTS5 expression for ``query``: any of its words (quoted, so none is an operator),
    common words left out unless nothing else is left."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    unique = list(dict.fromkeys(kept))
    if not unique:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)


def nearest(ids: Ids, matrix: Matrix, query: npt.NDArray[np.float32], limit: int) -> list[int]:
    """Passage ids best first by cosine (the vectors are unit length: a dot product)."""
    if len(ids) == 0 or limit <= 0:
        return []
    scores = matrix @ query
    limit = min(limit, len(scores))
    top = np.argpartition(-scores, limit - 1)[:limit]
    order = top[np.argsort(-scores[top], kind="stable")]
    return [int(i) for i in ids[order]]


def fuse(
    rankings: Sequence[Sequence[int]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings: (id, score) best first; ``weights``
    scale each ranking's share (1 each by default)."""
    scores: dict[int, float] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, pid in enumerate(ranking, 1):
            scores[pid] = scores.get(pid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def search(
    store: DocsStore,
    collection_id: int,
    query: str,
    query_vector: npt.NDArray[np.float32] | None,
    *,
    top: int = 5,
    mode: str = "hybrid",
    vector_weight: float = VECTOR_WEIGHT,
) -> list[Hit]:
    """The ``top`` passages for ``query``. ``mode`` "keyword" or "vector" uses one list
    alone (for comparisons); "hybrid" fuses both."""
    depth = max(DEPTH, top)
    keyword: list[int] = []
    vector: list[int] = []
    if mode in ("hybrid", "keyword"):
        expression = match_expression(query)
        if expression:
            keyword = store.keyword_search(collection_id, expression, depth)
    if mode in ("hybrid", "vector") and query_vector is not None:
        ids, matrix = store.vectors(collection_id)
        if matrix.shape[1:] == query_vector.shape:
            vector = nearest(ids, matrix, query_vector, depth)
    fused = fuse([keyword, vector], weights=[1.0, vector_weight])[:top]
    keyword_rank = {pid: rank for rank, pid in enumerate(keyword, 1)}
    vector_rank = {pid: rank for rank, pid in enumerate(vector, 1)}
    scores = dict(fused)
    hits: list[Hit] = []
    for row in store.passages([pid for pid, _ in fused]):
        pid = int(str(row["id"]))
        hits.append(
            Hit(
                passage_id=pid,
                source=str(row["path"]),
                title=str(row["title"]),
                page=None if row["page"] is None else int(str(row["page"])),
                line=int(str(row["line"])),
                start=int(str(row["start"])),
                end=int(str(row["end"])),
                heading=str(row["heading"]),
                text=str(row["text"]),
                score=scores[pid],
            )
        )
    return [
        replace(
            h, fts_rank=keyword_rank.get(h.passage_id), vector_rank=vector_rank.get(h.passage_id)
        )
        for h in hits
    ]
