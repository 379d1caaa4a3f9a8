"""What every tab of the Classify page shares: its base class and small widgets.

Each tab is a widget of its own: it asks the controller for its kind of work with
what the :class:`~app.ui.classify.choices.ChoicesBar` has chosen, listens to its own
lane's typed answers, and keeps its buttons right. The page only assembles the tabs
and passes on what one tab does for another (a taught head, a run to evaluate).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget

from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController


class ClassifyTab(QWidget):
    """A tab that asks the classification thread for work and shows the answers."""

    status_changed = Signal(str)
    """A sentence for the page's status line (not about this tab's own work)."""

    def __init__(
        self, controller: ClassifyController, choices: ChoicesBar, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.choices = choices
        controller.busy_changed.connect(self.update_buttons)
        choices.ready_changed.connect(self.update_buttons)

    @Slot()
    def update_buttons(self) -> None:
        """Enable what can be done now (subclasses: their own buttons)."""


def wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def progress_bar() -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setValue(0)
    bar.setTextVisible(True)
    return bar


def show_progress(bar: QProgressBar, progress: object, *, staged: bool = False) -> None:
    """A ClassifyProgress or TeachProgress on ``bar``; ``staged``: with its stage's name."""
    done, total = getattr(progress, "done", 0), getattr(progress, "total", 0) or 0
    if total:
        bar.setValue(round(done / total * 1000))
        stage = getattr(progress, "stage", "reading")
        bar.setFormat(f"{stage} {done:,} / {total:,}" if staged else "%p%")
