"""Start the window: the ``driftless`` command with no subcommand."""

from __future__ import annotations

import sys

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication, QMessageBox

from app import APP_ID, APP_NAME, __version__
from app.core.errors import DriftlessError
from app.core.paths import get_paths
from app.core.store import ModelStore


def run_gui(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    try:
        store = ModelStore(get_paths())
    except DriftlessError as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 1
    from app.ui.main_window import MainWindow

    window = MainWindow(store)
    window.show()
    code = app.exec()
    window.download_queue.shutdown()  # pause downloads; their partials resume next start
    QThreadPool.globalInstance().waitForDone()
    return code
