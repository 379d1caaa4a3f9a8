"""Start and stop the local API server from the window, off the GUI thread.

The server is the command line's :class:`~app.core.serve.server.ApiServer`, with the
same safety checks; the window only starts it, stops it and reads its counters.
Binding a port and waiting for uvicorn take a moment, and stopping waits for answers
in progress, so both run as a :class:`~app.ui.tasks.Task`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal, Slot

from app.core.errors import Cancelled
from app.core.models.store import ModelStore
from app.core.serve.guard import ServerStats
from app.core.serve.server import ApiServer, ServeConfig
from app.core.settings import Settings
from app.ui.tasks import Task

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
EVERYWHERE = "0.0.0.0"  # only with a key: ServeConfig.check insists on one


class Server(Protocol):
    """What the window needs of a server (tests pass a server over a scripted engine)."""

    stats: ServerStats

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


ServerFactory = Callable[[ServeConfig], Server]


@dataclass(frozen=True)
class ApiState:
    """What the switch shows: off, starting, serving at ``url``, stopping, or why it failed."""

    running: bool = False
    busy: bool = False
    url: str = ""
    error: str = ""
    needs_key: bool = False
    network_urls: tuple[str, ...] = ()
    """Where other machines reach it (this machine's own addresses, never 0.0.0.0)."""

    @property
    def local_url(self) -> str:
        """The address to call from this machine (a server on every address answers here)."""
        return self.url.replace(f"//{EVERYWHERE}:", f"//{LOOPBACK}:")

    @property
    def text(self) -> str:
        if self.busy:
            return "Stopping the server…" if self.running else "Starting the server…"
        if self.running:
            suffix = " (an API key is required)" if self.needs_key else ""
            where = self.local_url
            if self.url != where:  # on every address: say which ones others can use
                others = " or ".join(self.network_urls) or "no address (no network is up)"
                where = f"{where} here, and for other machines at {others}"
            return f"Serving at {where}{suffix}"
        if self.error:
            return f"Not serving: {self.error}"
        return "Not serving. Programs on this machine can use your models once it is on."


def network_urls(port: int) -> tuple[str, ...]:
    """The API's address on each of this machine's IPv4 addresses that other machines can
    reach (the server binds IPv4; loopback and link-local addresses are left out)."""
    from PySide6.QtNetwork import QAbstractSocket, QNetworkInterface

    ipv4 = QAbstractSocket.NetworkLayerProtocol.IPv4Protocol
    return tuple(
        f"http://{address.toString()}:{port}/v1"
        for address in QNetworkInterface.allAddresses()
        if address.protocol() == ipv4 and not address.isLoopback() and not address.isLinkLocal()
    )


def config_from(settings: Settings) -> ServeConfig:
    """The server's settings from the window's: loopback unless other machines may connect."""
    origins = tuple(o.strip() for o in settings.api_cors.replace(",", " ").split() if o.strip())
    return ServeConfig(
        host=EVERYWHERE if settings.api_network else LOOPBACK,
        port=settings.api_port,
        api_key=settings.api_key or None,
        cors_origins=origins,
    )


class ApiController(QObject):
    """Owns the window's server; ``state_changed`` after every start, stop or failure."""

    state_changed = Signal(object)  # ApiState

    def __init__(
        self,
        store: ModelStore,
        server_factory: ServerFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.server_factory: ServerFactory = server_factory or (
            lambda config: ApiServer(store, config)
        )
        self.server: Server | None = None
        self.state = ApiState()
        self._task: Task | None = None
        self._config: ServeConfig | None = None
        self._closing = threading.Event()

    @property
    def busy(self) -> bool:
        return self._task is not None

    def stats(self) -> tuple[int, list[tuple[float, int, str]]]:
        """Answers served and the last errors, (0, []) when off."""
        return self.server.stats.snapshot() if self.server is not None else (0, [])

    def start(self, settings: Settings) -> None:
        if self.server is not None or self.busy:
            return
        config = config_from(settings)
        factory = self.server_factory
        closing = self._closing

        def run(_task: Task) -> Server:
            config.check()  # an unsafe setting is a sentence before anything listens
            server = factory(config)
            try:
                server.start()
                if closing.is_set():  # the window closed while the server started
                    raise Cancelled()
            except BaseException:
                server.stop(0.5)
                raise
            return server

        self._config = config
        self._run(run, self._on_start_succeeded, ApiState(busy=True))

    def stop(self) -> None:
        server = self.server
        if server is None or self.busy:
            return

        def run(_task: Task) -> None:
            server.stop()

        self._run(run, self._on_stop_succeeded, ApiState(running=True, busy=True, url=server.url))

    def shutdown(self, timeout: float = 3.0) -> None:
        """At window close: stop now, in this thread (the window is going anyway)."""
        self._closing.set()
        if self.server is not None:
            self.server.stop(timeout)
            self.server = None

    def _run(
        self, fn: Callable[[Task], object], done: Callable[[object], None], state: ApiState
    ) -> None:
        task = Task(fn, self)
        task.succeeded.connect(done)
        task.failed.connect(self._on_task_failed)
        task.cancelled.connect(self._on_task_cancelled)
        self._task = task
        self._set_state(state)
        task.start()

    def _set_state(self, state: ApiState) -> None:
        self.state = state
        self.state_changed.emit(state)

    @Slot(object)
    def _on_start_succeeded(self, server: object) -> None:
        self._task = None
        started = cast(Server, server)
        self.server = started
        config = self._config
        needs_key = bool(config and config.api_key)
        port = urlsplit(started.url).port or 0
        others = network_urls(port) if config and config.host == EVERYWHERE else ()
        log.info("Serving the API at %s.", started.url)
        self._set_state(
            ApiState(running=True, url=started.url, needs_key=needs_key, network_urls=others)
        )

    @Slot(object)
    def _on_stop_succeeded(self, _result: object) -> None:
        self._task = None
        self.server = None
        log.info("Stopped the API server.")
        self._set_state(ApiState())

    @Slot()
    def _on_task_cancelled(self) -> None:
        self._task = None

    @Slot(str)
    def _on_task_failed(self, message: str) -> None:
        self._task = None
        running = self.server is not None
        url = self.server.url if self.server is not None else ""
        self._set_state(ApiState(running=running, url=url, error=message))
