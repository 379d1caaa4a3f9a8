"""Document collections over the API: ``POST /v1/docs/search`` and chat completions that
answer from collections (the ``"driftless": {"docs": [...]}`` extension field).

Searches run on one worker thread of their own, which keeps each collection's embedder
open between requests (an embedder is a llama.cpp context: one owner thread, like a
chat's). Requests are parsed here, with 400s for what a caller can fix; a collection
that does not exist is a 404 (:func:`app.core.serve.errors.from_core`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.docs.answer import CANDIDATES, retrieve
from app.core.docs.library import DocsLibrary, EmbedderFactory
from app.core.docs.records import CollectionInfo, EmbedderInfo, Hit, TextEmbedder, Vectors
from app.core.serve.errors import bad_request

MAX_COLLECTIONS = 8
MAX_TOP_K = 50
MAX_QUERY_CHARS = 4000


@dataclass(frozen=True)
class SearchRequest:
    collections: tuple[str, ...]
    query: str
    top_k: int


@dataclass(frozen=True)
class Found:
    """What a search found, with the collections it searched (their embedder, version)."""

    hits: list[Hit]
    collections: list[CollectionInfo]


def _names(value: Any, param: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise bad_request(f"'{param}' must be a non-empty list of collection names.", param)
    if len(value) > MAX_COLLECTIONS:
        raise bad_request(f"At most {MAX_COLLECTIONS} collections are searched at once.", param)
    if not all(isinstance(name, str) and name for name in value):
        raise bad_request(f"'{param}' must hold collection names (non-empty strings).", param)
    return tuple(dict.fromkeys(value))


def parse_search(body: Any) -> SearchRequest:
    """``{"collection": NAME}`` or ``{"collections": [NAME, ...]}``, ``"query"``, ``"top_k"``."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    one, many = body.get("collection"), body.get("collections")
    if (one is None) == (many is None):
        raise bad_request(
            "Name the collection to search: 'collection' (a name) or 'collections' (a list "
            "of names), one of the two. `driftless docs list` shows them.",
            "collection",
        )
    if one is not None:
        if not isinstance(one, str) or not one:
            raise bad_request("'collection' must be a collection's name.", "collection")
        names: tuple[str, ...] = (one,)
    else:
        names = _names(many, "collections")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise bad_request("'query' must be a non-empty string: what to look for.", "query")
    if len(query) > MAX_QUERY_CHARS:
        raise bad_request(f"'query' may have at most {MAX_QUERY_CHARS:,} characters.", "query")
    top_k = body.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise bad_request(f"'top_k' must be a whole number from 1 to {MAX_TOP_K}.", "top_k")
    return SearchRequest(names, query, top_k)


def parse_docs_extension(body: Any) -> tuple[str, ...]:
    """The collections a chat completion answers from: ``"driftless": {"docs": [...]}``
    (none when the field is absent)."""
    if not isinstance(body, dict) or body.get("driftless") is None:
        return ()
    extension = body["driftless"]
    if not isinstance(extension, dict):
        raise bad_request('\'driftless\' must be an object, like {"docs": ["NAME"]}.', "driftless")
    unknown = sorted(set(extension) - {"docs"})
    if unknown:
        raise bad_request(
            f"'driftless.{unknown[0]}' is not known; 'driftless' takes \"docs\", a list of "
            "collection names.",
            f"driftless.{unknown[0]}",
        )
    if extension.get("docs") is None:
        return ()
    return _names(extension["docs"], "driftless.docs")


class DocsService:
    """The document collections of one data folder, searched on one worker thread."""

    def __init__(self, path: Path, open_embedder: EmbedderFactory) -> None:
        self._path = path
        self._factory = open_embedder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftless-docs")
        self._library: DocsLibrary | None = None
        self._embedders: dict[str, TextEmbedder] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor

    def search(self, names: Sequence[str], query: str, top: int) -> Found:
        """Run on :attr:`executor` only (the embedders belong to its thread)."""
        library = self._open()
        infos = [library.get(name) for name in names]
        hits = retrieve(library, names, query, self._embedder, top=top)[:top]
        return Found(hits, infos)

    def candidates(self, names: Sequence[str], query: str) -> Found:
        """The passages a chat answer may use, best first (as ``chat --docs``)."""
        return self.search(names, query, CANDIDATES)

    def _open(self) -> DocsLibrary:
        if self._library is None:
            self._library = DocsLibrary(self._path)
        return self._library

    def _embedder(self, model_id: str | None) -> TextEmbedder:
        key = model_id or ""
        embedder = self._embedders.get(key)
        if embedder is None:
            embedder = self._embedders[key] = _Kept(self._factory(model_id))
        return embedder

    def close(self) -> None:
        """Close the embedders and the index (on the worker thread), then the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True

        def shut() -> None:
            for kept in self._embedders.values():
                assert isinstance(kept, _Kept)
                kept.inner.close()
            self._embedders.clear()
            if self._library is not None:
                self._library.close()
                self._library = None

        self._executor.submit(shut).result()
        self._executor.shutdown(wait=True)


class _Kept:
    """An embedder kept open between requests: ``retrieve`` closes what it is given after
    each search, which here only lets go of nothing."""

    def __init__(self, inner: TextEmbedder) -> None:
        self.inner = inner

    @property
    def info(self) -> EmbedderInfo:
        return self.inner.info

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Vectors:
        return self.inner.embed(texts, cancel)

    def adopt(self, recorded: EmbedderInfo) -> None:
        adopt = getattr(self.inner, "adopt", None)
        if adopt is not None:
            adopt(recorded)

    def close(self) -> None:
        pass


def hit_json(number: int, hit: Hit) -> dict[str, Any]:
    """A hit as the API answers it, numbered as the answer cites it."""
    return {"number": number, **hit.to_json(), "location": hit.location}


def collection_json(info: CollectionInfo) -> dict[str, Any]:
    return {"name": info.name, "version": info.version, "embedder": info.embedder.to_json()}
