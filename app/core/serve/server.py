"""Starting and stopping the API server: its settings, their safety checks, uvicorn.

The same :class:`ApiServer` runs under the command line (``serve_forever``, Ctrl-C
stops it) and in the window (``start`` in a thread, ``stop``). The safe defaults live
here, so every front gets them: loopback only unless an API key is set, the ``Host``
header checked, CORS off unless origins are named, bounded bodies and answers.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

from app.core.chat.protocols import ChatEngine
from app.core.docs.embedding import ModelEmbedder
from app.core.docs.library import EmbedderFactory
from app.core.errors import DriftlessError
from app.core.models.store import ModelStore
from app.core.serve.app import ApiApp
from app.core.serve.classify import ClassifyHolder
from app.core.serve.docs import DocsService
from app.core.serve.guard import Limits, ServerStats
from app.core.serve.pool import ModelPool
from app.core.serve.text_engine import ApiEngine

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
API_KEY_ENV = "DRIFTLESS_API_KEY"
"""Where ``driftless serve`` also reads the key from, so it need not be on a command line."""
MIN_KEY_LENGTH = 16


class ServeConfigError(DriftlessError):
    """The server's settings are unsafe or impossible."""


@dataclass(frozen=True)
class ServeConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    model: str | None = None
    n_ctx: int | None = None
    gpu_layers: str | None = None
    """The "GPU layers" choice for every model served; None: the settings' per model."""
    max_waiting: int = 8
    max_loaded: int = 1
    limits: Limits = field(default_factory=Limits)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Refuse unsafe settings before anything listens."""
        if not self.loopback and not self.api_key:
            raise ServeConfigError(
                f"Serving on {self.host} would let other machines use your models. Set an "
                f"API key (--api-key, or ${API_KEY_ENV}) to do that, or serve on 127.0.0.1."
            )
        if self.api_key is not None and any(
            c.isspace() or not c.isprintable() for c in self.api_key
        ):
            raise ServeConfigError(
                "The API key may not contain spaces or control characters (a key of 16 "
                "spaces would be 16 characters, and guessed at once): use letters and digits "
                "(python -c 'import secrets; print(secrets.token_urlsafe())')."
            )
        if self.api_key is not None and len(self.api_key) < MIN_KEY_LENGTH:
            raise ServeConfigError(
                f"The API key is too short to be safe: use at least {MIN_KEY_LENGTH} "
                "characters (python -c 'import secrets; print(secrets.token_urlsafe())')."
            )
        for origin in self.cors_origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ServeConfigError(
                    f"'{origin}' is not a web origin to allow. Name each one in full, like "
                    "http://localhost:3000 ('*' is not accepted)."
                )
        if not 0 <= self.port <= 65535:
            raise ServeConfigError(f"{self.port} is not a port number (0 to 65535).")

    def allowed_hosts(self) -> frozenset[str] | None:
        """The ``Host`` names to answer to; None (any) only for a wildcard bind with a key."""
        host = self.host.lower()
        if host in ("0.0.0.0", "::", ""):
            return None
        names = {host, f"[{host}]" if ":" in host else host}
        if self.loopback:
            names |= {"localhost", "127.0.0.1", "[::1]"}
        return frozenset(names)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiServer:
    """The API over ``store``'s models: uvicorn serving :class:`ApiApp`."""

    def __init__(
        self,
        store: ModelStore,
        config: ServeConfig,
        *,
        engine_factory: Callable[[], ChatEngine] | None = None,
        classify_factory: Callable[[], ClassifyHolder] | None = None,
        docs_embedder: EmbedderFactory | None = None,
    ) -> None:
        config.check()
        self.config = config
        self.store = store
        self.stats = ServerStats()
        self.pool = ModelPool(
            store,
            engine_factory
            or (lambda: ApiEngine(store, user="the API server", gpu_layers=config.gpu_layers)),
            default_model=config.model,
            max_loaded=config.max_loaded,
            max_waiting=config.max_waiting,
            n_ctx=config.n_ctx,
        )
        # Classification holds its own model runner (a Workbench), with its own queue.
        self.classify_pool = ModelPool(
            store,
            classify_factory or (lambda: ClassifyHolder(store, gpu_layers=config.gpu_layers)),
            default_model=config.model,
            max_loaded=config.max_loaded,
            max_waiting=config.max_waiting,
        )
        if config.model is not None:
            self.pool.resolve(config.model)  # an unknown --model fails now, not per request
        # Document collections: searched on a thread of their own, embedders kept open.
        self.docs = DocsService(
            store.paths.documents_db,
            docs_embedder or (lambda ref: ModelEmbedder(store, ref)),
        )
        self.api = ApiApp(
            self.pool,
            api_key=config.api_key,
            cors_origins=config.cors_origins,
            allowed_hosts=config.allowed_hosts(),
            limits=config.limits,
            stats=self.stats,
            classify_pool=self.classify_pool,
            docs=self.docs,
        )
        self._socket = _bind(config.host, config.port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.api.asgi,
                http="h11",
                ws="none",
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}/v1"

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (uvicorn handles the signals)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.pool.close()
            self.classify_pool.close()
            self.docs.close()

    def start(self) -> None:
        """Serve in a background thread; returns once the server accepts connections."""
        ready = threading.Event()

        def run() -> None:
            # uvicorn installs no signal handlers off the main thread: stop() ends it.
            self._server.run(sockets=[self._socket])
            ready.set()

        self._thread = threading.Thread(target=run, name="api-server", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            ready.wait(0.02)
        if not self._server.started:
            raise ServeConfigError(f"The server could not start on {self.url}; see the log.")

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self.pool.close()
        self.classify_pool.close()
        self.docs.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port is a sentence at start and port 0 gets a real number."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name != "nt":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeConfigError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Choose another --port, "
            "or stop the program using it."
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
