"""The Starlette application: the routes and the SSE stream.

The guard in front of them (Host, key, body size) is :mod:`app.core.serve.guard`.
Handlers read bodies with a cap too, since a chunked request declares no size.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.core.cancel import CancelToken
from app.core.chat.protocols import ChatEngine
from app.core.docs.answer import sources_list
from app.core.docs.answering import Answering, fit_answer
from app.core.runtime.results import Embeddings, GenerationStats, LoadedModel, TokenLogprob
from app.core.serve import protocol
from app.core.serve.classify import (
    ClassifyHolder,
    ClassifyResult,
    classify_answer,
    parse_classify,
)
from app.core.serve.docs import (
    DocsService,
    Found,
    collection_json,
    hit_json,
    parse_docs_extension,
    parse_search,
)
from app.core.serve.errors import ApiError, bad_request, from_core
from app.core.serve.guard import Guard, Limits, ServerStats, error_response, too_large
from app.core.serve.owner import (
    Event,
    Failed,
    Finished,
    Job,
    Piece,
    QueueFull,
    Started,
    U,
)
from app.core.serve.pool import ModelPool
from app.core.serve.text_engine import TextEngine

log = logging.getLogger(__name__)

PARSE_SECONDS = 5.0
"""The most a request's parsing (its JSON schema's grammar) may take."""
_PARSERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="driftless-parse")
T = TypeVar("T")

MAX_JSON_DEPTH = 64
"""Objects and lists inside each other in a request body; a JSON schema needs a dozen."""
DISCONNECT_POLL = 0.2
"""Seconds between checks that a client still waits for a non-streamed answer."""


class ApiApp:
    """The routes and their state; ``asgi`` is what uvicorn serves."""

    def __init__(
        self,
        pool: ModelPool[ChatEngine],
        *,
        api_key: str | None = None,
        cors_origins: tuple[str, ...] = (),
        allowed_hosts: frozenset[str] | None = None,
        limits: Limits | None = None,
        stats: ServerStats | None = None,
        classify_pool: ModelPool[ClassifyHolder] | None = None,
        docs: DocsService | None = None,
    ) -> None:
        self.pool = pool
        self.classify_pool = classify_pool
        self.docs = docs
        self.limits = limits or Limits()
        self.stats = stats or ServerStats()
        # CORS outermost: preflights are answered before the key is asked for, and the
        # Guard's refusals (a wrong key, a body too large) carry the CORS headers, so a web
        # page reads the error instead of an opaque network failure.
        middleware = []
        if cors_origins:
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=list(cors_origins),
                    allow_methods=["GET", "POST"],
                    allow_headers=["Authorization", "Content-Type"],
                    expose_headers=[
                        protocol.PROVENANCE_HEADER,
                        protocol.SHA256_HEADER,
                        protocol.BACKEND_HEADER,
                    ],
                )
            )
        middleware.append(
            Middleware(
                Guard,
                allowed_hosts=allowed_hosts,
                api_key=api_key,
                limits=self.limits,
                stats=self.stats,
                cors_origins=cors_origins,
            )
        )
        self.asgi = Starlette(
            routes=[
                Route("/v1/models", self.list_models, methods=["GET"]),
                Route("/v1/models/{model_id:path}", self.get_model, methods=["GET"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/classify", self.classify, methods=["POST"]),
                Route("/v1/docs/search", self.docs_search, methods=["POST"]),
            ],
            middleware=middleware,
            exception_handlers={HTTPException: self._http_error, ApiError: self._api_error},
        )

    # -- errors --

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = ApiError(
            exc.status_code,
            f"There is no {request.method} {request.url.path} here. See GET /v1/models, "
            "POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/classify and "
            "/v1/docs/search."
            if exc.status_code in (404, 405)
            else str(exc.detail),
            code="not_found" if exc.status_code == 404 else None,
        )
        return await self._api_error(request, error)

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        self.stats.note_error(exc.status, exc.message)
        return error_response(exc)

    # -- models --

    def _model_entry(self, model: Any, active_id: str | None, loaded: set[str]) -> dict[str, Any]:
        return {
            "id": model.id,
            "object": "model",
            "created": _epoch(model.installed_at),
            "owned_by": (model.repo or "local").split("/")[0],
            "lock_id": model.lock_id,
            "sha256": model.sha256,
            "pinned": model.pinned,
            "active": model.id == active_id,
            "loaded": model.id in loaded,
            "context_length": model.context_length,
            "verified_at": model.verified_at,
        }

    async def list_models(self, request: Request) -> Response:
        store = self.pool.store
        active = store.active()
        loaded = self.pool.loaded_ids()
        data = [
            self._model_entry(m, active.id if active else None, loaded) for m in store.list_models()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def get_model(self, request: Request) -> Response:
        try:
            model = self.pool.store.get(request.path_params["model_id"])
        except Exception as exc:
            raise from_core(exc) from None
        active = self.pool.store.active()
        entry = self._model_entry(model, active.id if active else None, self.pool.loaded_ids())
        return JSONResponse(entry)

    # -- chat --

    async def chat_completions(self, request: Request) -> Response:
        body = await self._read_json(request)
        chat = await self._off_loop(
            functools.partial(protocol.parse_chat, body, max_tokens_limit=self.limits.max_tokens)
        )
        names = parse_docs_extension(body)
        found: Found | None = None
        if names:
            question = chat.messages[-1]
            if question.role != "user" or not question.content.strip():
                raise bad_request(
                    "To answer from documents the last message must be the user's question.",
                    "messages",
                )
            found = await self._docs_call(
                lambda docs: docs.candidates(names, question.content), "driftless.docs"
            )

        logprobs: list[TokenLogprob] = []
        answering: list[Answering] = []

        def start(engine: ChatEngine) -> Iterator[str]:
            messages = list(chat.messages)
            if found is not None:  # the passages that fit are chosen where the model is
                answering.append(
                    fit_answer(
                        messages,
                        found.hits,
                        found.collections,
                        lambda m: engine.check_fits(m, chat.params).fits,
                    )
                )
                messages = answering[0].messages
            pieces = engine.stream_chat(messages, chat.params, cancel)
            if chat.params.logprobs is None:
                return pieces

            def with_logprobs() -> Iterator[str]:
                yield from pieces
                # Still on the owner thread, before the job's end is announced.
                logprobs.extend(getattr(engine, "last_logprobs", ()))

            return with_logprobs()

        cancel = CancelToken()
        events = await self._submit(chat.model, start, cancel, self.pool)
        loaded = await self._first(events, request, cancel)
        completion_id = "chatcmpl-" + secrets.token_hex(12)
        headers = protocol.provenance_headers(loaded)
        extension = answering[0].provenance() if answering else None
        used = answering[0].used if answering else []
        sources = "\n\n" + sources_list(used) if used else ""
        if chat.stream:
            chunks = self._chat_stream(
                completion_id, loaded, events, chat.include_usage, sources, extension
            )
            return CancellingStream(chunks, cancel, headers=headers, media_type="text/event-stream")
        text, stats = await self._whole_answer(events, request, cancel)
        answer = protocol.chat_completion(
            completion_id,
            loaded,
            text + sources,
            stats,
            None if chat.params.logprobs is None else logprobs,
        )
        if extension is not None:
            answer["driftless"] = extension
        return JSONResponse(answer, headers=headers)

    async def _whole_answer(
        self, events: asyncio.Queue[Event], request: Request, cancel: CancelToken
    ) -> tuple[str, GenerationStats | None]:
        """Gather a job's pieces into one answer (the non-streamed requests)."""
        text: list[str] = []
        while True:
            event = await self._next(events, request, cancel)
            if isinstance(event, Piece):
                text.append(event.text)
            elif isinstance(event, Failed):
                raise from_core(event.error)
            elif isinstance(event, Finished):
                self.stats.count_served()
                return "".join(text), event.stats

    async def _chat_stream(
        self,
        completion_id: str,
        loaded: LoadedModel,
        events: asyncio.Queue[Event],
        include_usage: bool,
        sources: str = "",
        extension: dict[str, Any] | None = None,
    ) -> AsyncIterator[str]:
        first = {"role": "assistant", "content": ""}
        opening = protocol.chat_chunk(completion_id, loaded, first, with_provenance=True)
        if extension is not None:
            opening["driftless"] = extension
        yield _sse(opening)

        def piece(text: str) -> dict[str, Any]:
            return protocol.chat_chunk(completion_id, loaded, {"content": text})

        def last(stats: GenerationStats | None) -> list[dict[str, Any]]:
            reason = protocol.finish_reason(stats)
            chunks = [protocol.chat_chunk(completion_id, loaded, {}, reason, with_provenance=True)]
            if sources:  # the Sources list, as `chat --docs` ends its reply
                chunks.insert(0, piece(sources))
            if include_usage:
                chunk = protocol.chat_chunk(completion_id, loaded, {}, with_choice=False)
                chunk["usage"] = protocol.usage(stats)
                chunks.append(chunk)
            return chunks

        async for line in self._sse_events(events, piece, last):
            yield line

    async def _sse_events(
        self,
        events: asyncio.Queue[Event],
        piece: Callable[[str], dict[str, Any]],
        last: Callable[[GenerationStats | None], list[dict[str, Any]]],
    ) -> AsyncIterator[str]:
        """Server-sent events for a job's pieces, its end (``last``) and ``[DONE]``."""
        pending: Event | None = None
        while True:
            event = pending or await events.get()
            pending = None
            if isinstance(event, Piece):
                # Pieces that queued up while the last chunk was sent go out as one chunk:
                # on a busy machine that keeps the HTTP side from falling behind the model.
                text = [event.text]
                while not events.empty():
                    following = events.get_nowait()
                    if not isinstance(following, Piece):
                        pending = following
                        break
                    text.append(following.text)
                yield _sse(piece("".join(text)))
            elif isinstance(event, Failed):
                # Headers are gone: the error travels as an event, as OpenAI's does.
                error = from_core(event.error)
                self.stats.note_error(error.status, error.message)
                yield _sse(error.body())
                break
            elif isinstance(event, Finished):
                for chunk in last(event.stats):
                    yield _sse(chunk)
                self.stats.count_served()
                break
        yield "data: [DONE]\n\n"

    # -- plain completions --

    async def completions(self, request: Request) -> Response:
        body = await self._read_json(request)
        ask = protocol.parse_completion(body, max_tokens_limit=self.limits.max_tokens)

        def start(engine: ChatEngine) -> Iterator[str]:
            return _text_engine(engine, "/v1/completions").stream_completion(
                ask.prompt, ask.params, cancel
            )

        cancel = CancelToken()
        events = await self._submit(ask.model, start, cancel, self.pool)
        loaded = await self._first(events, request, cancel, param="prompt")
        completion_id = "cmpl-" + secrets.token_hex(12)
        headers = protocol.provenance_headers(loaded)
        if ask.stream:

            def piece(text: str) -> dict[str, Any]:
                return protocol.text_completion(
                    completion_id, loaded, text, None, with_provenance=False
                )

            def last(stats: GenerationStats | None) -> list[dict[str, Any]]:
                reason = protocol.finish_reason(stats)
                chunks = [protocol.text_completion(completion_id, loaded, "", None, finish=reason)]
                if ask.include_usage:
                    chunks.append(
                        protocol.text_completion(
                            completion_id, loaded, None, stats, with_choice=False
                        )
                    )
                return chunks

            lines = self._sse_events(events, piece, last)
            return CancellingStream(lines, cancel, headers=headers, media_type="text/event-stream")
        text, stats = await self._whole_answer(events, request, cancel)
        reason = protocol.finish_reason(stats)
        answer = protocol.text_completion(completion_id, loaded, text, stats, finish=reason)
        if stats is None:
            answer["usage"] = protocol.usage(None)
        return JSONResponse(answer, headers=headers)

    # -- embeddings --

    async def embeddings(self, request: Request) -> Response:
        body = await self._read_json(request)
        ask = protocol.parse_embeddings(body)
        result: list[Embeddings] = []

        def start(engine: ChatEngine) -> Iterator[str]:
            result.append(_text_engine(engine, "/v1/embeddings").embed(ask.texts, cancel))
            return iter(())

        cancel = CancelToken()
        events = await self._submit(ask.model, start, cancel, self.pool)
        loaded = await self._first(events, request, cancel, param="input")
        while True:
            event = await self._next(events, request, cancel)
            if isinstance(event, Failed):
                raise from_core(event.error, param="input")
            if isinstance(event, Finished):
                if not result:
                    raise ApiError(499, "The request was cancelled.", code="cancelled")
                self.stats.count_served()
                done = result[0]
                answer = protocol.embedding_list(
                    loaded, done.vectors, done.prompt_tokens, base64=ask.base64
                )
                return JSONResponse(answer, headers=protocol.provenance_headers(loaded))

    # -- classify (Driftless's own) --

    async def classify(self, request: Request) -> Response:
        if self.classify_pool is None:
            raise ApiError(404, "Classification is not served here.", code="not_found")
        body = await self._read_json(request)
        ask = parse_classify(body)
        result: list[ClassifyResult] = []

        def start(holder: ClassifyHolder) -> Iterator[str]:
            result.append(holder.classify(ask, cancel))
            return iter(())

        cancel = CancelToken()
        events = await self._submit(ask.model, start, cancel, self.classify_pool)
        loaded = await self._first(events, request, cancel, param="texts")
        while True:
            event = await self._next(events, request, cancel)
            if isinstance(event, Failed):
                raise from_core(event.error, param="texts")
            if isinstance(event, Finished):
                if not result:
                    raise ApiError(499, "The request was cancelled.", code="cancelled")
                self.stats.count_served()
                answer = classify_answer(result[0], loaded)
                answer["system_fingerprint"] = protocol.fingerprint(loaded)
                answer["provenance"] = protocol.provenance(loaded)
                return JSONResponse(answer, headers=protocol.provenance_headers(loaded))

    # -- documents --

    async def docs_search(self, request: Request) -> Response:
        body = await self._read_json(request)
        ask = parse_search(body)
        found = await self._docs_call(
            lambda docs: docs.search(ask.collections, ask.query, ask.top_k), "collection"
        )
        self.stats.count_served()
        answer: dict[str, Any] = {
            "object": "docs.search",
            "query": ask.query,
            "hits": [hit_json(number, hit) for number, hit in enumerate(found.hits, 1)],
            "collections": [collection_json(info) for info in found.collections],
        }
        if len(found.collections) == 1:
            answer["embedder"] = found.collections[0].embedder.to_json()
        return JSONResponse(answer)

    async def _docs_call(self, call: Callable[[DocsService], T], param: str) -> T:
        """Run ``call`` on the documents' worker thread; its errors as API errors."""
        docs = self.docs
        if docs is None:
            raise ApiError(404, "Document collections are not served here.", code="not_found")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(docs.executor, call, docs)
        except Exception as exc:
            raise from_core(exc, param=param) from None

    # -- plumbing --

    async def _read_json(self, request: Request) -> Any:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise too_large(self.limits)
            chunks.append(chunk)
        too_deep = False
        body: Any = None
        try:
            body = json.loads(b"".join(chunks))
        except RecursionError:
            too_deep = True  # nested beyond Python's stack: far past the limit below
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from None
        if too_deep or nesting(body) > MAX_JSON_DEPTH:
            raise bad_request(
                f"The request body nests objects and lists more than {MAX_JSON_DEPTH} deep."
            )
        return body

    async def _off_loop(self, parse: Callable[[], T]) -> T:
        """Parse a request on a worker thread, within a deadline.

        Turning a JSON schema into a grammar is bounded (see ``runtime.grammar``) but still
        CPU work: it never runs on the event loop, where it would hold up every client.
        """
        future = asyncio.get_running_loop().run_in_executor(_PARSERS, parse)
        try:
            return await asyncio.wait_for(future, PARSE_SECONDS)
        except TimeoutError:
            raise bad_request(
                f"The request took more than {PARSE_SECONDS:g} s to read (its JSON schema is "
                "too complex): simplify the schema.",
                "response_format.json_schema.schema",
            ) from None

    async def _submit(
        self,
        ref: str | None,
        start: Callable[[U], Iterator[str]],
        cancel: CancelToken,
        pool: ModelPool[U],
    ) -> asyncio.Queue[Event]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def emit(event: Event) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        try:
            model = pool.resolve(ref)
            owner = pool.owner(model)
            owner.submit(Job(start, emit, cancel))
        except QueueFull as exc:
            raise ApiError(
                429,
                str(exc),
                type="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        except Exception as exc:
            raise from_core(exc) from None
        return events

    async def _first(
        self,
        events: asyncio.Queue[Event],
        request: Request,
        cancel: CancelToken,
        *,
        param: str = "messages",
    ) -> LoadedModel:
        event = await self._next(events, request, cancel)
        if isinstance(event, Started):
            return event.loaded
        if isinstance(event, Failed):
            raise from_core(event.error, param=param)
        raise ApiError(499, "The request was cancelled.", code="cancelled")

    async def _next(
        self, events: asyncio.Queue[Event], request: Request, cancel: CancelToken
    ) -> Event:
        """The next event; a client that left meanwhile cancels its job."""
        try:
            while True:
                try:
                    return await asyncio.wait_for(events.get(), DISCONNECT_POLL)
                except TimeoutError:
                    if await request.is_disconnected():
                        cancel.cancel()
                        raise ApiError(499, "The client went away.", code="cancelled") from None
        except asyncio.CancelledError:
            cancel.cancel()
            raise


class CancellingStream(StreamingResponse):
    """A streamed answer whose job is cancelled however the response ends.

    Starlette stops sending when the client disconnects; this makes sure the owner thread
    hears of it (through the token) and stops generating within a token.
    """

    def __init__(
        self,
        content: AsyncIterator[str],
        cancel: CancelToken,
        *,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        super().__init__(content, headers=headers, media_type=media_type)
        self.cancel = cancel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.cancel.cancel()  # harmless when the answer was complete


def _text_engine(engine: ChatEngine, endpoint: str) -> TextEngine:
    if not isinstance(engine, TextEngine):
        raise ApiError(
            501,
            f"This server's engine cannot answer {endpoint}.",
            type="server_error",
            code="not_implemented",
        )
    return engine


def nesting(value: Any) -> int:
    """How deep lists and objects nest in parsed JSON (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
            stack.extend((child, depth) for child in item)
    return deepest


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _epoch(iso: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return 0
