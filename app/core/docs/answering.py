"""A chat turn answered from collections: the prompt with the passages that fit, and
what a saved reply keeps of them.

One function for every front (the command line's ``chat --docs``, the window's "Answer
from"): :func:`answer_from` retrieves (:func:`~app.core.docs.answer.retrieve`), fits
(:func:`~app.core.docs.answer.fit_passages`) and builds the system prompt
(:func:`~app.core.docs.answer.docs_prompt`). :meth:`Answering.provenance` is the record
a reply keeps: which collections at which version and embedder, and which passages
(file, page or line, span) under which number, so a source can be opened later and an
answer traced to the index that gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.docs.answer import docs_prompt, fit_passages, retrieve
from app.core.docs.library import DocsLibrary, EmbedderFactory
from app.core.docs.records import CollectionInfo, Hit
from app.core.runtime.template import ChatMessage, system

PROVENANCE_KEY = "docs"
"""Where a reply's parameters keep its :meth:`Answering.provenance`."""


@dataclass(frozen=True)
class Answering:
    """The messages to send, the passages in their prompt, and how many were found."""

    messages: list[ChatMessage]
    used: list[Hit]
    found: int
    collections: list[CollectionInfo]

    @property
    def summary(self) -> str:
        """ "Answering from 3 of the 8 passages found in kb (the others did not fit…)"."""
        names = ", ".join(c.name for c in self.collections)
        return f"Answering from {len(self.used)} of the {self.found} passages found in {names}" + (
            " (the others did not fit in the context)." if len(self.used) < self.found else "."
        )

    def provenance(self) -> dict[str, Any]:
        """What a reply keeps: the collections (name, version, embedder) and each passage
        it was given, numbered as the answer cites them."""
        return {
            "collections": [
                {
                    "name": c.name,
                    "version": c.version,
                    "updated_at": c.updated_at,
                    "embedder": c.embedder.lock_id,
                    "embedder_sha256": c.embedder.sha256,
                }
                for c in self.collections
            ],
            "found": self.found,
            "passages": [
                {"number": number, "passage_id": hit.passage_id, **hit.to_json()}
                for number, hit in enumerate(self.used, 1)
            ],
        }


def answer_from(
    library: DocsLibrary,
    names: Sequence[str],
    messages: Sequence[ChatMessage],
    open_embedder: EmbedderFactory,
    fits: Callable[[Sequence[ChatMessage]], bool],
) -> Answering:
    """``messages`` (the last one the question) with the best passages from ``names``
    that ``fits`` the context in the system prompt; unchanged when none fits."""
    unique = list(dict.fromkeys(names))
    collections = [library.get(name) for name in unique]
    hits = retrieve(library, unique, messages[-1].content, open_embedder)
    return fit_answer(messages, hits, collections, fits)


def fit_answer(
    messages: Sequence[ChatMessage],
    hits: Sequence[Hit],
    collections: Sequence[CollectionInfo],
    fits: Callable[[Sequence[ChatMessage]], bool],
) -> Answering:
    """The second half of :func:`answer_from`, for a caller that retrieved on another
    thread than the one that knows what fits (the API: searches on the documents'
    thread, fitting on the model's)."""
    base = messages[0].content if messages and messages[0].role == "system" else ""
    rest = list(messages[1:] if base else messages)
    used = fit_passages(base, hits, lambda text: fits([system(text), *rest]))
    if not used:
        return Answering(list(messages), [], len(hits), list(collections))
    return Answering([system(docs_prompt(base, used)), *rest], used, len(hits), list(collections))
