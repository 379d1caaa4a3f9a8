"""Start the window: the ``driftless`` command with no subcommand.

Start-up sets what the whole desktop session relies on: the application's name, icon
and desktop id (``io.driftless.Driftless``, matching the .desktop file, so docks and
task bars group the window under it), the log file in the data folder, and a last
resort for unexpected exceptions, and the theme (:mod:`app.ui.theme`): Fusion with the
light or dark palette the system's setting asks for, switching when it changes.
"""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QThreadPool
from PySide6.QtWidgets import QApplication, QMessageBox

from app import APP_ID, APP_NAME, __version__
from app.core.errors import DriftlessError
from app.core.logs import setup_logging, stop_logging
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.ui import theme
from app.ui.errors import ExceptionReporter
from app.ui.single_instance import SingleInstance, bring_to_front
from app.ui.tasks import wait_for_abandoned
from app.ui.welcome import app_icon

log = logging.getLogger(__name__)


def configure(app: QApplication) -> None:
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    theme.install(app)


def run_gui(argv: list[str] | None = None, *, smoke_test: bool = False) -> int:
    """Open the window and run until it closes; with ``smoke_test``, see :mod:`app.ui.smoke`."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    assert isinstance(app, QApplication)
    configure(app)
    paths = get_paths()
    try:
        setup_logging(paths)
    except OSError as exc:  # an unwritable data folder: the store says so just below
        print(f"driftless: cannot write the log file: {exc}", file=sys.stderr)
    reporter = ExceptionReporter().install()
    instance = None if smoke_test else SingleInstance(paths.home)
    try:
        if instance is not None:
            if instance.activate_running():
                log.info("%s is already open on %s: brought it to the front", APP_NAME, paths.home)
                print(
                    f"{APP_NAME} is already open on {paths.home}; its window is brought forward.",
                    file=sys.stderr,
                )
                return 0
            instance.listen()
        try:
            store = ModelStore(paths)
        except DriftlessError as exc:
            log.error("Cannot open the data folder: %s", exc)
            if smoke_test:
                print(f"smoke: FAILED while opening the data folder: {exc}", file=sys.stderr)
            else:
                QMessageBox.critical(None, APP_NAME, str(exc))
            return 1
        from app.ui.main_window import MainWindow

        window = MainWindow(store)
        if instance is not None:
            instance.activation_requested.connect(lambda: bring_to_front(window))
        window.show()
        window.greet_first_run()
        if smoke_test:
            from app.ui.smoke import SmokeTest

            def end(code: int) -> None:
                window.close()
                app.exit(code)

            smoke = SmokeTest(window)
            # Queued: the window must not close inside the slot that is reporting the end.
            smoke.finished.connect(end, Qt.ConnectionType.QueuedConnection)
            smoke.start()
        code = app.exec()
        # Closing the last window posts a quit of its own; drop it, or it would end the
        # next event loop of this process (tests run run_gui in-process).
        QCoreApplication.removePostedEvents(app, QEvent.Type.Quit)
        window.download_queue.shutdown()  # pause downloads; their partials resume next start
        QThreadPool.globalInstance().waitForDone()
        log.info("%s closed (exit status %d)", APP_NAME, code)
        if not wait_for_abandoned(2.0):
            # A worker stuck in a native call outlived its window (see stop_thread).
            # Interpreter shutdown would destroy its running QThread, which aborts the
            # process; everything worth keeping is already on disk (SQLite commits per
            # message), so leave at once instead.
            log.warning("A worker thread is still busy; exiting without waiting for it.")
            reporter.uninstall()
            stop_logging()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    finally:
        if instance is not None:
            instance.close()
        reporter.uninstall()
        stop_logging()
