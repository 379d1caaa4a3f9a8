""" "Answer from: …": the document collections a conversation answers from.

A button whose menu lists the collections (read when it opens, so one made on the
Documents page a moment ago is there), each checkable, plus "None". The choice is kept
with the conversation (:meth:`~app.ui.chat.session.ChatState.set_answer_from`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from app.core.errors import DriftlessError

NONE_TEXT = "Answer from: the model alone"
TOOLTIP = (
    "Answer from your document collections: the best passages go to the model, and the "
    "reply lists its sources"
)
NAMES_WIDTH = 240
"""Pixels the chosen collections' names may take on the button."""


class AnswerFromButton(QToolButton):
    """Pick zero or more collections; ``chosen_changed`` says which."""

    chosen_changed = Signal(list)  # the collections' names

    def __init__(
        self, list_collections: Callable[[], list[str]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._list = list_collections
        self.chosen: list[str] = []
        self.setAccessibleName("Answer from")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_ = QMenu(self)
        self.menu_.aboutToShow.connect(self._on_menu_about_to_show)
        self.setMenu(self.menu_)
        self._show()

    def set_chosen(self, names: Sequence[str]) -> None:
        """Show the open conversation's choice (no signal)."""
        self.chosen = list(names)
        self._show()

    def _show(self) -> None:
        if self.chosen:
            names = ", ".join(self.chosen)
            # Elided: many or long names must not widen the page (the menu has them all).
            shown = self.fontMetrics().elidedText(names, Qt.TextElideMode.ElideRight, NAMES_WIDTH)
            self.setText(f"Answer from: {shown}")
            self.setToolTip(f"Answer from: {names}")
        else:
            self.setText(NONE_TEXT)
            self.setToolTip(TOOLTIP)

    @Slot()
    def _on_menu_about_to_show(self) -> None:
        self.fill_menu()

    def fill_menu(self) -> None:
        self.menu_.clear()
        try:
            names = self._list()
        except DriftlessError as exc:
            self.menu_.addAction(f"The collections could not be read: {exc}").setEnabled(False)
            return
        none = self.menu_.addAction("The model alone (no documents)")
        none.setCheckable(True)
        none.setChecked(not self.chosen)
        none.triggered.connect(lambda: self._choose([]))
        self.menu_.addSeparator()
        if not names:
            hint = self.menu_.addAction("No collections yet: make one on the Documents page")
            hint.setEnabled(False)
        for name in sorted(set(names) | set(self.chosen)):
            action = self.menu_.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self.chosen)
            if name not in names:
                action.setText(f"{name} (removed)")
            action.toggled.connect(lambda on, n=name: self._toggle(n, on))

    def _toggle(self, name: str, on: bool) -> None:
        names = [n for n in self.chosen if n != name] + ([name] if on else [])
        self._choose(names)

    def _choose(self, names: list[str]) -> None:
        self.chosen = names
        self._show()
        self.chosen_changed.emit(list(names))
