"""In front of every route: the guard (a plain ASGI middleware), the limits it enforces,
and the counters the window shows.

The guard runs before any route: it checks the ``Host`` header against the names the
server answers to (a DNS-rebinding page cannot borrow the local port), the ``Origin``
header against the web origins allowed (a browser sends a ``text/plain`` POST from any
page without a preflight, so CORS alone does not stop a page from making a keyless
server generate), the API key in constant time, and the declared body size. Requests
without an ``Origin`` (curl, scripts, the ``openai`` client) are not browsers' and pass.
Handlers read bodies with a cap too, since a chunked request declares no size.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.serve.errors import ApiError, bad_request
from app.core.text import printable


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20
    max_tokens: int = 4096


@dataclass
class ServerStats:
    """What the window shows: answers served and the last errors. Thread-safe."""

    served: int = 0
    errors: deque[tuple[float, int, str]] = field(default_factory=lambda: deque(maxlen=10))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count_served(self) -> None:
        with self._lock:
            self.served += 1

    def note_error(self, status: int, message: str) -> None:
        with self._lock:
            self.errors.append((time.time(), status, message))

    def snapshot(self) -> tuple[int, list[tuple[float, int, str]]]:
        with self._lock:
            return self.served, list(self.errors)


class Guard:
    """Host check, API key and declared body size, before any route runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: frozenset[str] | None,
        api_key: str | None,
        limits: Limits,
        stats: ServerStats,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.limits = limits
        self.stats = stats
        self.cors = bool(cors_origins)
        self.origins = frozenset(o.rstrip("/").lower() for o in cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        problem = self._check(scope, headers)
        if problem is not None:
            self.stats.note_error(problem.status, problem.message)
            await error_response(problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, headers: dict[str, bytes]) -> ApiError | None:
        if self.allowed_hosts is not None:
            host = _hostname(headers.get("host", b"").decode("latin-1"))
            if host not in self.allowed_hosts:
                return ApiError(
                    421,
                    f"This server does not answer to the host name '{host}'. Use the address "
                    "it was started on.",
                    code="host_not_allowed",
                )
        origin = headers.get("origin")
        if origin is not None and origin.decode("latin-1").strip().lower() not in self.origins:
            shown = printable(origin.decode("latin-1"), 200)
            return ApiError(
                403,
                f"Requests from the web page at '{shown}' are not allowed. Name the origin "
                "with --cors (or in the window's server settings) to let a page use this "
                "server.",
                code="origin_not_allowed",
            )
        if self.api_key is not None and not (self.cors and scope["method"] == "OPTIONS"):
            given = headers.get("authorization", b"")
            scheme, _, token = given.partition(b" ")
            # Constant time, whatever the key's length or where it differs.
            if not (scheme.lower() == b"bearer" and hmac.compare_digest(token, self.api_key)):
                return ApiError(
                    401,
                    "The API key is missing or wrong. Send it as 'Authorization: Bearer KEY'.",
                    code="invalid_api_key",
                )
        length = headers.get("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return bad_request("The Content-Length header is not a number.")
            if size > self.limits.max_body_bytes:
                return too_large(self.limits)
        return None


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8765
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def too_large(limits: Limits) -> ApiError:
    return ApiError(
        413,
        f"The request body is larger than {limits.max_body_bytes:,} bytes, the most this "
        "server reads.",
        code="requesttoo_large",
    )


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


# --- the application ---------------------------------------------------------------------
