"""The Installed tab's file actions: import GGUF files, export and import lockfiles.

Importing checks the GGUF header before a byte is copied and hashes the file;
importing a lockfile verifies and pins what is here and, when online, fetches
what is missing at the exact locked commit. Both run behind the tab's BusyStrip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from app.core.errors import DriftlessError
from app.core.hub.download import DownloadProgress
from app.core.hub.updates import lock_fetcher
from app.core.models import lockfile
from app.core.models.lockfile import ImportReport
from app.core.models.store import InstalledModel, ModelStore
from app.ui.models.busy import BusyStrip
from app.ui.models.downloads import DownloadQueue
from app.ui.models.prompts import ImportChoice, Prompts
from app.ui.tasks import Task


class FileActions(QObject):
    """Three buttons and what they do; ``changed`` says the store changed, and how."""

    changed = Signal(str)

    def __init__(
        self,
        window: QWidget,
        store: ModelStore,
        queue: DownloadQueue,
        busy: BusyStrip,
        status: QLabel,
    ) -> None:
        super().__init__(window)
        self.window, self.store, self.queue, self.busy, self.status = (
            window,
            store,
            queue,
            busy,
            status,
        )
        self.import_button = QPushButton("&Import GGUF…")
        self.import_button.setToolTip("Check a local GGUF file and add it (or drop it here)")
        self.export_lock_button = QPushButton("&Export lockfile…")
        self.export_lock_button.setToolTip("Write every pinned model to a lockfile")
        self.import_lock_button = QPushButton("Import &lockfile…")
        self.import_lock_button.setToolTip("Verify and pin locked models; fetch missing ones")
        self.import_button.clicked.connect(self._on_import_clicked)
        self.export_lock_button.clicked.connect(self._on_export_lock_clicked)
        self.import_lock_button.clicked.connect(self._on_import_lock_clicked)

    def buttons(self) -> tuple[QPushButton, ...]:
        return (self.import_button, self.export_lock_button, self.import_lock_button)

    def update_buttons(self) -> None:
        for button in (self.import_button, self.import_lock_button):
            button.setEnabled(not self.busy.busy)

    # --- GGUF files -------------------------------------------------------

    @Slot()
    def _on_import_clicked(self) -> None:
        path = Prompts.open_gguf(self.window)
        if path is not None:
            self.import_files([path])

    def import_files(self, paths: list[Path]) -> None:
        """Ask how (copy or link, pin or not), then check and register each file."""
        if self.busy.busy or not paths:
            return
        choice = Prompts.import_options(self.window, paths)
        if choice is None:
            return
        store = self.store

        def run(task: Task) -> list[InstalledModel]:
            progress = task.report_progress
            return [
                store.import_file(
                    path,
                    link=choice.link,
                    pinned=choice.pin,
                    on_progress=progress,
                    cancel=task.cancel_token,
                )
                for path in paths
            ]

        names = ", ".join(p.name for p in paths)
        before = {m.id for m in store.list_models()}
        self.status.setText(f"Checking {names}…")
        self.busy.run(f"Importing {names}", run, self._imported(choice, before), self._not_imported)

    def _imported(
        self, choice: ImportChoice, before: set[str]
    ) -> Callable[[list[InstalledModel]], None]:
        how = "linked in place" if choice.link else "copied into the store"
        pinned = ", pinned" if choice.pin else ""

        def done(models: list[InstalledModel]) -> None:
            added = [m.id for m in models if m.id not in before]
            known = list(dict.fromkeys(m.id for m in models if m.id in before))
            parts = []
            if added:
                parts.append(
                    f"Imported {', '.join(added)} ({how}{pinned}; GGUF header and sha256 checked)."
                )
            if known:
                parts.append(
                    f"{', '.join(known)} {'is' if len(known) == 1 else 'are'} already installed "
                    "with the same bytes; nothing was added."
                )
            self.changed.emit(" ".join(parts))

        return done

    def _not_imported(self, message: str) -> None:
        self.status.setText(f"Not imported: {message}")

    # --- lockfiles --------------------------------------------------------

    @Slot()
    def _on_export_lock_clicked(self) -> None:
        path = Prompts.save_lockfile(self.window)
        if path is None:
            return
        try:
            lock = lockfile.export(self.store, path)
        except DriftlessError as exc:
            self.status.setText(str(exc))
            return
        self.status.setText(f"Wrote {len(lock.models)} pinned model(s) to {path}.")

    @Slot()
    def _on_import_lock_clicked(self) -> None:
        path = Prompts.open_lockfile(self.window)
        if path is None or self.busy.busy:
            return
        store, settings, downloader = self.store, self.queue.settings, self.queue.downloader

        def run(task: Task) -> ImportReport:
            fetch = None
            if not settings.offline:
                progress = task.report_progress

                def report(download: DownloadProgress) -> None:
                    progress(download.done, download.total)

                fetch = lock_fetcher(downloader, on_progress=report)
            return lockfile.import_lock(store, path, fetch=fetch, cancel=task.cancel_token)

        self.status.setText(f"Importing {path.name}…")
        self.busy.run(
            f"Importing {path.name}",
            run,
            self._on_import_lock_finished,
            lambda message: self.status.setText(f"Lockfile not imported: {message}"),
        )

    def _on_import_lock_finished(self, report: ImportReport) -> None:
        lines = [f"Verified and pinned {m.id}." for m in report.pinned]
        lines += [f"Missing: {e.describe()} (offline, so not downloaded)." for e in report.missing]
        lines += [f"Refused: {reason}" for _entry, reason in report.refused]
        if report.llama_cpp_python_differs:
            lines.append(f"Note: {report.llama_cpp_python_differs}")
        verdict = "Every locked model is here." if report.ok else "The lock is not satisfied."
        self.changed.emit("\n".join([verdict, *lines]))
