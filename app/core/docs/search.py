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

import numpy as np
import numpy.typing as npt

from app.core.docs.records import Hit
from app.core.docs.store import DocsStore
from app.core.docs.vectors import nearest_scored

RRF_K = 60
VECTOR_WEIGHT = 0.25
"""The vector list's share in the fusion, against 1 for keywords."""
FUSION = "rrf"
"""How the two lists are merged by default: "rrf" or "scores" (see :func:`search`)."""
DEPTH = 50
"""How many passages the keyword list contributes to the fusion."""
VECTOR_DEPTH = 20
"""How many passages the vector list contributes to the fusion. A weak embedder's deep
ranks are noise that RRF still rewards: a passage 6th by keywords and 20th by vectors
outscored the keywords' first (bench/bench_docs.py, README "Documents")."""

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


def combine(
    keyword: Sequence[tuple[int, float]],
    vector: Sequence[tuple[int, float]],
    floor: float,
    vector_weight: float,
) -> list[tuple[int, float]]:
    """Score fusion: each passage's bm25 over the best bm25 (0 when the keywords missed
    it) plus ``vector_weight`` times its cosine placed between ``floor`` (the lowest in
    the collection) and the best: (id, score) best first."""
    scores: dict[int, float] = {}
    if keyword:
        best = keyword[0][1] or 1.0
        for pid, value in keyword:
            scores[pid] = value / best
    if vector:
        top = vector[0][1]
        span = top - floor if top > floor else 1.0
        for pid, value in vector:
            scores[pid] = scores.get(pid, 0.0) + vector_weight * (value - floor) / span
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
    scaling: str = "unit",
    fusion: str = FUSION,
    vector_depth: int = VECTOR_DEPTH,
) -> list[Hit]:
    """The ``top`` passages for ``query``. ``mode`` "keyword" or "vector" uses one list
    alone (for comparisons); "hybrid" fuses both, by ``fusion``: "scores"
    (:func:`combine`) or "rrf" (:func:`fuse`). ``scaling`` is the collection
    embedder's (:mod:`app.core.docs.vectors`)."""
    depth = max(DEPTH, top)
    keyword: list[tuple[int, float]] = []
    vector: list[tuple[int, float]] = []
    floor = 0.0
    if mode in ("hybrid", "keyword"):
        expression = match_expression(query)
        if expression:
            keyword = store.keyword_search(collection_id, expression, depth)
    if mode in ("hybrid", "vector") and query_vector is not None:
        vectors = store.vectors(collection_id, scaling)
        vector, floor = nearest_scored(vectors, query_vector, max(vector_depth, 1))
    if mode == "hybrid" and fusion == "scores":
        fused = combine(keyword, vector, floor, vector_weight)[:top]
    else:
        lists = [[pid for pid, _ in keyword], [pid for pid, _ in vector]]
        fused = fuse(lists, weights=[1.0, vector_weight])[:top]
    keyword_rank = {pid: rank for rank, (pid, _) in enumerate(keyword, 1)}
    vector_rank = {pid: rank for rank, (pid, _) in enumerate(vector, 1)}
    similarity = dict(vector)
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
                fts_rank=keyword_rank.get(pid),
                vector_rank=vector_rank.get(pid),
                similarity=similarity.get(pid),
            )
        )
    return hits
