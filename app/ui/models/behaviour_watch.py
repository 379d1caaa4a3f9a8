"""Behaviour checks made elsewhere (``driftless drift check``, another window) show at once.

A check keeps its result as a file in ``checks/results/`` and a recording is a file in
``checks/``; this watches those folders (and the data folder until they exist) and says
``changed`` when the files in them did, a moment after the last change, so the Models page
reads them again without a restart.
"""

from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

from app.core.drift.results import CheckResults
from app.core.paths import Paths

SETTLE_MS = 200
"""A check writes its file through a temporary one: read once the folder is quiet."""


class BehaviourWatcher(QObject):
    changed = Signal()

    def __init__(self, paths: Paths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        results = CheckResults.for_paths(paths).folder
        self.folders = (paths.home, paths.checks_dir, results)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_watcher_directory_changed)
        self.settle = QTimer(self)
        self.settle.setSingleShot(True)
        self.settle.setInterval(SETTLE_MS)
        self.settle.timeout.connect(self._on_settle_timeout)
        self._watch()
        self._seen = self._signature()

    def _watch(self) -> None:
        """Watch the folders that exist (the data folder only until ``checks/`` does: it
        changes with every chat's database journal)."""
        existing = [str(f) for f in self.folders if f.is_dir()]
        wanted = existing[1:] if len(existing) > 1 else existing
        watched = set(self.watcher.directories())
        if stale := [d for d in watched if d not in wanted]:
            self.watcher.removePaths(stale)
        if new := [d for d in wanted if d not in watched]:
            self.watcher.addPaths(new)

    def _signature(self) -> tuple[tuple[str, int], ...]:
        found = []
        for folder in self.folders[1:]:
            try:
                found += [(str(p), p.stat().st_mtime_ns) for p in folder.glob("*.json")]
            except OSError:
                continue
        return tuple(sorted(found))

    @Slot(str)
    def _on_watcher_directory_changed(self, _folder: str) -> None:
        self.settle.start()

    @Slot()
    def _on_settle_timeout(self) -> None:
        self._watch()
        seen = self._signature()
        if seen != self._seen:
            self._seen = seen
            self.changed.emit()
