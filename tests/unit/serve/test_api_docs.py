"""Document collections over the API: POST /v1/docs/search, and chat completions that
answer from collections through ``"driftless": {"docs": [...]}`` (a real server, the
official client, a scripted engine and a fake embedder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from app.core.docs.library import DocsLibrary
from app.core.models.store import ModelStore
from app.core.serve.server import ApiServer, ServeConfig
from tests.fake_engine import FakeEngine
from tests.unit.docs.fakes import HashEmbedder
from tests.unit.serve.conftest import client

QUESTION = [{"role": "user", "content": "When is my money returned?"}]


@pytest.fixture
def collection(module_store: ModelStore, tmp_path: Path) -> Iterator[str]:
    """A collection in the server's data folder, embedded by the fake embedder."""
    folder = tmp_path / "help"
    folder.mkdir()
    (folder / "refunds.md").write_text("# Refunds\n\nMoney is returned within 14 days.\n")
    (folder / "shipping.txt").write_text("Parcels travel by post and arrive in three days.\n")
    (folder / "warranty.html").write_text("<h1>Warranty</h1><p>Two years on every part.</p>")
    name = f"help-{tmp_path.name}"[:64]
    library = DocsLibrary(module_store.paths.documents_db)
    library.add(name, [folder], lambda ref: HashEmbedder())
    library.close()
    yield name
    library = DocsLibrary(module_store.paths.documents_db)
    library.remove(name)
    library.close()


@pytest.fixture
def serve(module_store: ModelStore) -> Iterator[Any]:
    servers: list[ApiServer] = []
    opened: list[HashEmbedder] = []

    def start(engine: FakeEngine) -> ApiServer:
        def embedder(ref: str | None) -> HashEmbedder:
            opened.append(HashEmbedder())
            return opened[-1]

        server = ApiServer(
            module_store, ServeConfig(port=0), engine_factory=lambda: engine, docs_embedder=embedder
        )
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    assert all(embedder.closed for embedder in opened)  # closed when the server stops


def test_search_answers_hits_with_their_span_and_the_pinned_embedder(
    serve: Any, collection: str
) -> None:
    server = serve(FakeEngine())
    response = httpx.post(
        server.url + "/docs/search",
        json={"collection": collection, "query": "money returned", "top_k": 2},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["object"] == "docs.search" and len(answer["hits"]) == 2
    first = answer["hits"][0]
    assert Path(first["source"]).name == "refunds.md"
    assert first["number"] == 1 and first["page"] is None and first["line"] == 1
    text = Path(first["source"]).read_text()
    assert text[first["start"] : first["end"]] == first["text"]
    assert first["score"] > answer["hits"][1]["score"]
    assert answer["embedder"]["sha256"] == "a" * 64
    assert answer["collections"][0]["name"] == collection

    again = httpx.post(
        server.url + "/docs/search",
        json={"collections": [collection], "query": "parcels post", "top_k": 1},
    ).json()
    assert Path(again["hits"][0]["source"]).name == "shipping.txt"
    assert again["hits"][0]["collection"] == collection


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ([], 400, "JSON object"),
        ({"query": "x"}, 400, "Name the collection"),
        ({"collection": "a", "collections": ["b"], "query": "x"}, 400, "one of the two"),
        ({"collections": [], "query": "x"}, 400, "non-empty list"),
        ({"collection": "COLLECTION", "query": ""}, 400, "'query'"),
        ({"collection": "COLLECTION", "query": "x", "top_k": 0}, 400, "'top_k'"),
        ({"collection": "COLLECTION", "query": "x", "top_k": True}, 400, "'top_k'"),
        ({"collection": "nothing-here", "query": "x"}, 404, "no collection named"),
    ],
)
def test_bad_searches_are_told_why(
    serve: Any, collection: str, body: Any, status: int, words: str
) -> None:
    server = serve(FakeEngine())
    if isinstance(body, dict) and body.get("collection") == "COLLECTION":
        body = {**body, "collection": collection}
    response = httpx.post(server.url + "/docs/search", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error["message"]
    if status == 404:
        assert error["code"] == "collection_not_found"


def test_chat_answers_from_a_collection_with_citations_and_sources(
    serve: Any, collection: str
) -> None:
    engine = FakeEngine(["Within 14 days [1]."])
    server = serve(engine)
    answer = client(server).chat.completions.create(
        model="default", messages=QUESTION, extra_body={"driftless": {"docs": [collection]}}
    )
    content = answer.choices[0].message.content or ""
    assert content.startswith("Within 14 days [1].\n\nSources:\n[1] ")
    assert "refunds.md, line 1" in content.splitlines()[3]
    # The same record a saved reply keeps in the window (Answering.provenance).
    extension = (answer.model_extra or {})["driftless"]
    assert extension["found"] >= len(extension["passages"]) >= 1
    first = extension["passages"][0]
    assert first["number"] == 1 and Path(first["source"]).name == "refunds.md"
    assert first["collection"] == collection
    assert extension["collections"][0]["name"] == collection
    assert extension["collections"][0]["embedder_sha256"] == "a" * 64
    prompt = engine.requests[0].messages
    assert prompt[0].role == "system" and "[1] refunds.md, line 1" in prompt[0].content
    assert prompt[-1].content == QUESTION[0]["content"]


def test_a_streamed_answer_ends_with_its_sources(serve: Any, collection: str) -> None:
    server = serve(FakeEngine(["Within 14 days [1]."]))
    stream = client(server).chat.completions.create(
        model="default",
        messages=QUESTION,
        stream=True,
        extra_body={"driftless": {"docs": [collection]}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Within 14 days [1].\n\nSources:\n[1] ")
    assert len((chunks[0].model_extra or {})["driftless"]["passages"]) >= 1


def test_chat_without_the_extension_is_unchanged(serve: Any) -> None:
    engine = FakeEngine(["Hello."])
    server = serve(engine)
    answer = client(server).chat.completions.create(model="default", messages=QUESTION)
    assert answer.choices[0].message.content == "Hello."
    assert "driftless" not in (answer.model_extra or {})
    assert engine.requests[0].messages[0].role == "user"


@pytest.mark.parametrize(
    ("extension", "error", "words"),
    [
        ({"docs": ["nothing-here"]}, openai.NotFoundError, "no collection named"),
        ({"docs": "help"}, openai.BadRequestError, "non-empty list"),
        ({"docs": [""]}, openai.BadRequestError, "collection names"),
        ({"sources": True}, openai.BadRequestError, "'driftless.sources' is not known"),
        ("help", openai.BadRequestError, "must be an object"),
    ],
)
def test_bad_docs_extensions_are_refused(
    serve: Any, extension: Any, error: type[Exception], words: str
) -> None:
    engine = FakeEngine(["Hello."])
    server = serve(engine)
    with pytest.raises(error, match=words):
        client(server).chat.completions.create(
            model="default", messages=QUESTION, extra_body={"driftless": extension}
        )
    assert engine.requests == []  # refused before the model was asked
