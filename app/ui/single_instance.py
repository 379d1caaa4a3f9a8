"""One window per data folder: a second launch brings the first window to the front.

The first window listens on a local socket (``QLocalServer``) named after its data folder
and the user. A later launch on the same folder connects, says ``activate``, waits for the
answer and exits instead of opening a second window on the same databases (qutebrowser
does the same). A launch on another data folder (``--home``) opens its own window.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

from app import APP_ID

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
ACKNOWLEDGED = b"ok\n"
TIMEOUT_MS = 3000


def server_name(home: Path) -> str:
    """The socket's name: the same for one user and data folder, different otherwise."""
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    folder = str(home.expanduser().resolve())
    digest = hashlib.sha256(f"{user}\0{folder}".encode()).hexdigest()[:20]
    return f"{APP_ID}-{digest}"


def bring_to_front(window: QWidget) -> None:
    """Show ``window`` unminimised and ask the window manager to focus it."""
    if window.isMinimized():
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()


class SingleInstance(QObject):
    """The first instance's listener, and the later instances' request to it."""

    activation_requested = Signal()

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(home)
        self._server: QLocalServer | None = None

    def activate_running(self) -> bool:
        """Ask the instance already running on this data folder to come to the front; True
        when one answered (then this one should exit). Blocks up to a few seconds."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(TIMEOUT_MS):
            return False
        socket.write(ACTIVATE)
        socket.waitForBytesWritten(TIMEOUT_MS)
        answered = False
        while socket.waitForReadyRead(TIMEOUT_MS):
            if bytes(socket.readAll().data()).endswith(ACKNOWLEDGED):
                answered = True
                break
        socket.disconnectFromServer()
        return answered

    def listen(self) -> bool:
        """Become the instance others find; False (logged) if the socket cannot be made."""
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # Nobody answered activate_running, so a socket left there is a crashed
            # instance's: remove it and try once more.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("A second launch cannot find this window: %s", server.errorString())
                return False
        server.newConnection.connect(self._on_server_new_connection)
        self._server = server
        return True

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    @Slot()
    def _on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.setParent(self)
            socket.readyRead.connect(self._on_socket_ready_read)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._answer(socket)

    @Slot()
    def _on_socket_ready_read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._answer(socket)

    def _answer(self, socket: QLocalSocket) -> None:
        if socket.canReadLine() and bytes(socket.readLine().data()) == ACTIVATE:
            socket.write(ACKNOWLEDGED)
            socket.flush()
            log.info("Another launch on this data folder: bringing the window to the front")
            self.activation_requested.emit()
