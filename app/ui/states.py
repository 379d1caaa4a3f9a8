"""The states a page is in when it has nothing to show yet, is busy, or failed, drawn by
the same few components on every page, and the title a page starts with.

- :class:`EmptyState`: an icon, a sentence and, when there is something to do about it,
  one action button (the page's main action, in the accent).
- :class:`LoadingState`: a busy indicator and a sentence saying what is under way.
- :class:`ErrorState`: the sentence a user can act on, a Retry button and, when there is
  more to say, Details.
- :class:`StateStack`: a view (a table, a list) and those states drawn in its place, one
  at a time. Inside a small area (a table's room, a side column) the states are
  *compact*: a smaller icon and margins, so they fit where the view did at 800x600.
- :class:`PageHeader`: the page's title in the theme's title style, an optional line of
  secondary text under it, and its actions on the right.

Sizes, type and colours come from :mod:`app.ui.theme`; the icons from :mod:`app.ui.icons`,
drawn at paint time so they follow a switch between light and dark.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.ui import theme
from app.ui.icons import icon

ICON_SIZE = 40
"""An empty or error state's icon, in pixels."""
COMPACT_ICON_SIZE = 24
"""The icon of a compact state (one in a table's place), in pixels."""
TEXT_WIDTH_CHARACTERS = 60
"""A state's sentence wraps at about this many average characters."""


class StateIcon(QWidget):
    """An icon drawn in a theme colour at paint time (a pixmap in a label would keep the
    colours of the scheme it was made in)."""

    def __init__(self, name: str, color: str, size: int = ICON_SIZE) -> None:
        super().__init__()
        self.name = name
        self.icon: QIcon = icon(name, color)
        self.setFixedSize(size, size)
        theme.on_palette_change(self, self.update)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.icon.paint(painter, self.rect())


def _centred(widget: QWidget, stretch: int = 0) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(widget, stretch)
    row.addStretch(1)
    return row


def _sentence(text: str, kind: theme.Type = theme.Type.BODY) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    theme.set_type(label, kind)
    return label


class _State(QWidget):
    """A column centred in the page: what every state shares."""

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False) -> None:
        super().__init__(parent)
        self.compact = compact
        self.icon_size = COMPACT_ICON_SIZE if compact else ICON_SIZE
        margin, spacing = (theme.S, theme.S) if compact else (theme.XL, theme.M)
        self.column = QVBoxLayout(self)
        self.column.setSpacing(spacing)
        self.column.setContentsMargins(margin, margin, margin, margin)
        self.column.addStretch(1)
        # A column of readable width, centred; its labels wrap inside it (a wrapping label
        # placed with an alignment would keep one line's height and be cut).
        self.box = QWidget()
        self.box.setMaximumWidth(self.fontMetrics().averageCharWidth() * TEXT_WIDTH_CHARACTERS)
        self.body = QVBoxLayout(self.box)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(spacing)
        self.column.addLayout(_centred(self.box, 100))
        self.column.addStretch(2)

    def _add(self, widget: QWidget) -> None:
        self.body.addLayout(_centred(widget))


class EmptyState(_State):
    """Nothing here yet: an icon, (a title,) a sentence, and the action that changes that.
    Pages add what else helps to :attr:`body` (the chat adds example prompts)."""

    action_triggered = Signal()

    def __init__(
        self,
        icon_name: str,
        sentence: str,
        action: str | None = None,
        *,
        hint: str = "",
        title: str = "",
        icon_color: str = "secondary",
        compact: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, compact=compact)
        self.icon = StateIcon(icon_name, icon_color, self.icon_size)
        self.title = _sentence(title, theme.Type.HEADING)
        self.title.setVisible(bool(title))
        self.label = _sentence(sentence)
        self.label.setAccessibleName("Empty")
        self.action_button: QPushButton | None = None
        self._add(self.icon)
        self.body.addWidget(self.title)
        self.body.addWidget(self.label)
        if action is not None:
            self.action_button = QPushButton(action)
            theme.set_primary(self.action_button)
            self.action_button.setDefault(True)
            self.action_button.clicked.connect(self.action_triggered)
            self._add(self.action_button)
        self.hint_label = _sentence(hint, theme.Type.SECONDARY)
        self.hint_label.setVisible(bool(hint))
        self.body.addWidget(self.hint_label)

    def text(self) -> str:
        return self.label.text()

    def set_text(self, sentence: str) -> None:
        self.label.setText(sentence)


class LoadingState(_State):
    """Work under way: a busy indicator and a sentence saying what."""

    def __init__(
        self, sentence: str = "Loading…", *, compact: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, compact=compact)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no known end: Qt draws it busy
        self.busy.setTextVisible(False)
        self.busy.setFixedWidth(theme.XL * (5 if compact else 8))
        self.busy.setMaximumHeight(theme.S)
        self.busy.setAccessibleName("Busy")
        self.label = _sentence(sentence, theme.Type.SECONDARY)
        self.body.addWidget(self.label)
        self._add(self.busy)

    def text(self) -> str:
        return self.label.text()

    def set_text(self, sentence: str) -> None:
        self.label.setText(sentence)


class ErrorState(_State):
    """Something failed: the sentence to act on, Retry and (when there is more) Details."""

    retry_requested = Signal()

    def __init__(
        self,
        sentence: str = "",
        *,
        retry: str | None = "&Retry",
        details: str = "",
        compact: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, compact=compact)
        self.icon = StateIcon("circle-alert", "bad", self.icon_size)
        self.label = _sentence(sentence)
        self.label.setAccessibleName("Error")
        self.details_label = _sentence(details, theme.Type.MONO)
        self.details_label.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.details_label.hide()
        self.retry_button: QPushButton | None = None
        self.details_button = QPushButton("&Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self.details_label.setVisible)
        self.details_button.setVisible(bool(details))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        if retry is not None:
            self.retry_button = QPushButton(retry)
            theme.set_primary(self.retry_button)
            self.retry_button.clicked.connect(self.retry_requested)
            buttons.addWidget(self.retry_button)
        buttons.addWidget(self.details_button)
        buttons.addStretch(1)
        self._add(self.icon)
        self.body.addWidget(self.label)
        self.body.addLayout(buttons)
        self.body.addWidget(self.details_label)

    def text(self) -> str:
        return self.label.text()

    def show_error(self, sentence: str, details: str = "") -> None:
        self.label.setText(sentence)
        self.details_label.setText(details)
        self.details_button.setChecked(False)
        self.details_button.setVisible(bool(details))


class StateStack(QStackedWidget):
    """A view and the states shown in its place, one at a time: :meth:`show_content`,
    :meth:`show_empty`, :meth:`show_loading`, :meth:`show_error`. A state not given is
    made when first shown (compact unless ``compact=False``)."""

    def __init__(
        self,
        content: QWidget,
        *,
        empty: EmptyState | None = None,
        loading: LoadingState | None = None,
        error: ErrorState | None = None,
        compact: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.content = content
        self.empty = empty if empty is not None else EmptyState("search-x", "", compact=compact)
        self.loading = loading if loading is not None else LoadingState(compact=compact)
        self.error = error if error is not None else ErrorState(compact=compact)
        for widget in (content, self.empty, self.loading, self.error):
            self.addWidget(widget)
        self.setCurrentWidget(content)

    @property
    def state(self) -> str:
        """What is shown: "content", "empty", "loading" or "error"."""
        shown = self.currentWidget()
        names = {id(self.empty): "empty", id(self.loading): "loading", id(self.error): "error"}
        return names.get(id(shown), "content")

    def show_content(self) -> None:
        self.setCurrentWidget(self.content)

    def show_empty(self, sentence: str | None = None) -> None:
        if sentence is not None:
            self.empty.set_text(sentence)
        self.setCurrentWidget(self.empty)

    def show_loading(self, sentence: str) -> None:
        self.loading.set_text(sentence)
        self.setCurrentWidget(self.loading)

    def show_error(self, sentence: str, details: str = "") -> None:
        self.error.show_error(sentence, details)
        self.setCurrentWidget(self.error)


class PageHeader(QWidget):
    """A page's title (the theme's title style), a secondary line, and its actions."""

    def __init__(self, title: str, subtitle: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAccessibleName(f"{title} page")
        theme.set_type(self.title, theme.Type.TITLE)
        self.subtitle = QLabel(subtitle)
        self.subtitle.setWordWrap(True)
        theme.set_type(self.subtitle, theme.Type.SECONDARY)
        self.subtitle.setVisible(bool(subtitle))
        self.action_row = QHBoxLayout()
        self.action_row.setSpacing(theme.S)
        top = QHBoxLayout()
        top.setSpacing(theme.M)
        top.addWidget(self.title)
        top.addStretch(1)
        top.addLayout(self.action_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(theme.XS)
        layout.addLayout(top)
        layout.addWidget(self.subtitle)

    def add_action(self, button: QWidget, *, primary: bool = False) -> None:
        """An action beside the title; the primary one is drawn in the accent, last."""
        if primary:
            theme.set_primary(button)
        self.action_row.addWidget(button)
