"""Answering from collections: the passages that fit, numbered, and the Sources list.

The chat model gets the best passages (best first) in its system prompt, each under a
number, and is asked to cite them as [1], [2]. As many passages as fit the context, with
the room kept for the reply, go in, and the caller says how many that was; a passage
never goes in cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from app.core.docs.library import DocsLibrary, EmbedderFactory
from app.core.docs.records import Hit

INSTRUCTION = (
    "Answer from the numbered passages of the user's documents below. Cite each passage "
    "you use by its number in square brackets, like [1] or [2]. If the passages do not "
    "hold the answer, say so instead of guessing."
)
CANDIDATES = 8
"""Passages retrieved per collection before fitting them to the context."""


def retrieve(
    library: DocsLibrary,
    names: Sequence[str],
    query: str,
    open_embedder: EmbedderFactory,
    *,
    top: int = CANDIDATES,
) -> list[Hit]:
    """The best passages for ``query`` across collections (each searched with its own
    pinned embedder, each hit naming its collection), best first by fused score."""
    names = list(dict.fromkeys(names))
    infos = [library.get(name) for name in names]  # every name checked before any work
    hits: list[Hit] = []
    for info in infos:
        embedder = open_embedder(info.embedder.model_id)
        try:
            found = library.search(info.name, query, embedder, top=top)
        finally:
            embedder.close()
        hits.extend(replace(hit, collection=info.name) for hit in found)
    return sorted(hits, key=lambda hit: -hit.score)


def docs_prompt(base: str, hits: Sequence[Hit]) -> str:
    """The system prompt: ``base`` (may be empty), the instruction, the numbered passages."""
    blocks = [
        f"[{number}] {hit.where}" + (f" ({hit.heading})" if hit.heading else "") + f"\n{hit.text}"
        for number, hit in enumerate(hits, 1)
    ]
    return "\n\n".join(part for part in (base, INSTRUCTION, *blocks) if part)


def fit_passages(base: str, hits: Sequence[Hit], fits: Callable[[str], bool]) -> list[Hit]:
    """The leading passages whose prompt still ``fits`` (best first, none cut)."""
    chosen: list[Hit] = []
    for hit in hits:
        if not fits(docs_prompt(base, [*chosen, hit])):
            break
        chosen.append(hit)
    return chosen


def sources_list(hits: Sequence[Hit]) -> str:
    """ "Sources:" and a numbered line per passage: its file and page or line."""
    lines = ["Sources:"]
    for number, hit in enumerate(hits, 1):
        lines.append(f"[{number}] {hit.source}, {hit.location}")
    return "\n".join(lines)
