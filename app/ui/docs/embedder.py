"""A collection's pinned embedder on the Documents page, and changing it.

:class:`EmbedderRow` names the embedder (model, lock id and sha256, shortened) with a
**Change embedder…** button; :class:`ChangeEmbedderDialog` lists the installed models
that can embed (embedding models first, as the catalog advises) and says plainly that
every passage will be embedded again. The re-embedding itself is an indexing job of the
page's :class:`~app.ui.docs.controller.DocsController` (progress and Cancel); until it
ends, searches use the old vectors, and a cancelled one leaves them as they were.
:class:`Eta` turns the progress into a rough time left, from the rate seen so far.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.docs.choices import EmbedderChoice
from app.core.docs.records import CollectionInfo, EmbedderInfo
from app.core.units import human_size
from app.ui import theme

_LONG_HEX = re.compile(r"[0-9a-f]{13,}")


def short_lock(lock_id: str) -> str:
    """A lock id with its commit or sha256 cut to 12 characters."""
    return _LONG_HEX.sub(lambda m: m.group(0)[:12] + "…", lock_id)


def embedder_line(info: EmbedderInfo) -> str:
    """ "Embedder: NAME · lock LOCK · sha256 1a2b3c4d5e6f"."""
    return (
        f"Embedder: {info.model_id} · lock {short_lock(info.lock_id)} · sha256 {info.sha256[:12]}"
    )


class EmbedderRow(QWidget):
    """The collection's embedder and the button that changes it."""

    change_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Embedder")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme.set_type(self.label, theme.Type.SECONDARY)  # as the collection's other facts
        self.change_button = QPushButton("C&hange embedder…")
        self.change_button.setToolTip("Embed every passage again with another model")
        self.change_button.clicked.connect(self.change_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.change_button)

    def show_embedder(self, info: EmbedderInfo | None) -> None:
        self.label.setText(embedder_line(info) if info is not None else "")
        self.label.setToolTip(f"{info.describe()}\n{info.lock_id}" if info is not None else "")


def choice_text(choice: EmbedderChoice) -> str:
    model = choice.model
    kind = "embedding model, recommended" if choice.embedding_model else "chat model"
    text = f"{model.id} ({kind}, {human_size(model.size)})"
    return text + " — the current embedder" if choice.current else text


class ChangeEmbedderDialog(QDialog):
    """Choose the model a collection is embedded with from now on."""

    def __init__(
        self,
        info: CollectionInfo,
        choices: Sequence[EmbedderChoice],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Change the embedder of {info.name}")
        self.info = info
        current = QLabel(embedder_line(info.embedder))
        current.setWordWrap(True)
        self.models = QListWidget()
        self.models.setAccessibleName("Models that can embed")
        for choice in choices:
            item = QListWidgetItem(choice_text(choice))
            item.setData(Qt.ItemDataRole.UserRole, choice.model.id)
            if choice.current:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.models.addItem(item)
        first = next((i for i, c in enumerate(choices) if not c.current), -1)
        self.models.setCurrentRow(first)
        passages = f"{info.passages:,} passage" + ("" if info.passages == 1 else "s")
        self.warning = QLabel(
            f"Every one of the {passages} of '{info.name}' will be embedded again with the "
            "model you choose, and the collection is pinned to it from then on. No file is "
            "read again. How long it takes depends on the model and this computer; the "
            "time left shows once the first passages are done. Until it ends, searching "
            "and answering use the current embedder, and Cancel keeps it."
        )
        self.warning.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("&Re-embed")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(current)
        layout.addWidget(QLabel("Embed with:"))
        layout.addWidget(self.models, 1)
        layout.addWidget(self.warning)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.models.currentRowChanged.connect(self._check)
        self.resize(520, 380)
        self._check()

    def chosen(self) -> str | None:
        item = self.models.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return None
        value = item.data(Qt.ItemDataRole.UserRole)
        return str(value) if value else None

    def _check(self) -> None:
        problem = ""
        if self.models.count() <= 1 and self.chosen() is None:
            problem = (
                "No other model is installed. Add an embedding model (BGE Small or Nomic "
                "Embed) in Models, then come back."
            )
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.chosen() is not None)

    @classmethod
    def ask(
        cls, parent: QWidget, info: CollectionInfo, choices: Sequence[EmbedderChoice]
    ) -> str | None:
        """The model id to embed with, or None if the user kept the current one."""
        dialog = cls(info, choices, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.chosen()


class Eta:
    """A rough time left from the rate seen so far (none until a few seconds passed)."""

    MIN_SECONDS = 3.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start: tuple[float, int] | None = None

    def reset(self) -> None:
        self._start = None

    def left(self, done: int, total: int) -> str:
        """ "about 3 min left", or "" while there is too little to go by."""
        now = self._clock()
        if self._start is None:
            self._start = (now, done)
            return ""
        began, first = self._start
        elapsed, made = now - began, done - first
        if elapsed < self.MIN_SECONDS or made <= 0 or done >= total:
            return ""
        seconds = (total - done) * elapsed / made
        if seconds < 60:
            return "less than a minute left"
        minutes = round(seconds / 60)
        if minutes < 90:
            return f"about {minutes} min left"
        return f"about {seconds / 3600:.1f} h left"
