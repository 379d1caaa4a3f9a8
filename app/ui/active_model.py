"""The active model, for the whole window: one owner that every page follows.

The store's registry holds which model is active; this object is the window's only way
to change it and the only place that announces a change, so the Models page's **Use**,
a finished download, a removal and the status line cannot disagree with what Chat and
Classify load. Anything else that may have changed it (another process, a download's
worker) is picked up by :meth:`ActiveModel.refresh`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.models.store import InstalledModel, ModelStore


class ActiveModel(QObject):
    """Which installed model new conversations and classification use."""

    active_model_changed = Signal(str)
    """The new active model's id, or "" when none is."""

    def __init__(self, store: ModelStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        current = store.active()
        self._id = current.id if current is not None else ""

    @property
    def model_id(self) -> str | None:
        return self._id or None

    def current(self) -> InstalledModel | None:
        return self.store.active()

    def use(self, model_id: str) -> InstalledModel:
        """Make ``model_id`` active (the store refuses a missing or resized file)."""
        model = self.store.set_active(model_id)
        self.refresh()
        return model

    def refresh(self) -> None:
        """Re-read the registry and announce the active model if it changed."""
        current = self.store.active()
        new_id = current.id if current is not None else ""
        if new_id != self._id:
            self._id = new_id
            self.active_model_changed.emit(new_id)
