"""A visible focus ring for the controls whose style draws none.

Fusion shows keyboard focus in line edits, but hardly or not at all on buttons, combo
boxes, lists, tables, tab bars or text areas: Tab moves on and nothing on screen says
where to.
One :class:`FocusRing` per window draws a highlight-coloured outline around such a
control while it has the focus, unless a mouse click gave it (a click needs no ring).
It is drawn in the theme's focus colour (:mod:`app.ui.theme`), so it follows the light or
dark scheme, and it is transparent to the mouse.

It listens to ``QApplication.focusChanged`` and watches only the focused control and the
widgets holding it (so it follows a scroll), never every event of the application.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtGui import QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSlider,
    QApplication,
    QComboBox,
    QTabBar,
    QWidget,
)

from app.ui import theme

RING_WIDTH = theme.FOCUS_WIDTH
RINGED = (QAbstractButton, QComboBox, QAbstractScrollArea, QTabBar, QAbstractSlider)
"""Controls that get the ring: every kind Tab stops at but line edits and spin boxes,
whose frame Fusion draws in the accent when they have the focus."""


def rings(widget: QWidget) -> bool:
    """Whether the ring marks ``widget`` when it has the keyboard focus."""
    if widget.property("drawsOwnFocus"):
        return False  # e.g. the navigation rail rings its focused entry itself
    return isinstance(widget, RINGED)


class FocusRing(QWidget):
    """Follows the keyboard focus among the buttons and combo boxes of ``window``."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)  # a child of the window: a ring inside a message would die
        self._window = window
        self.target: QWidget | None = None
        self._watched: list[QWidget] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hide()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_app_focus_changed)

    @Slot(QWidget, QWidget)
    def _on_app_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        ringed = (
            new is not None
            and rings(new)
            and new.window() is self._window
            and QApplication.mouseButtons() == Qt.MouseButton.NoButton
        )
        self._follow(new if ringed else None)

    def _follow(self, widget: QWidget | None) -> None:
        for watched in self._watched:
            with contextlib.suppress(RuntimeError):  # already deleted: nothing to undo
                watched.removeEventFilter(self)
        self._watched = []
        self.target = widget
        if widget is None:
            self.hide()
            return
        holder: QWidget | None = widget
        while holder is not None and holder is not self._window:
            holder.installEventFilter(self)
            self._watched.append(holder)
            holder = holder.parentWidget()
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show):
            self._place()  # the control moved, or something holding it did (a scroll)
        elif kind == QEvent.Type.Hide and watched is self.target:
            self.hide()
        return False

    def _place(self) -> None:
        target = self.target
        if target is None or not target.isVisible():
            self.hide()
            return
        # In the window's coordinates, clipped to what shows of the control.
        visible = target.visibleRegion().boundingRect()
        if visible.isEmpty():
            self.hide()
            return
        top_left = target.mapTo(self._window, visible.topLeft())
        margin = RING_WIDTH
        self.setGeometry(
            visible.translated(top_left - visible.topLeft()).adjusted(
                -margin, -margin, margin, margin
            )
        )
        self.show()
        self.raise_()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(theme.colors().color("focus"), RING_WIDTH)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        half = RING_WIDTH / 2
        radius = theme.RADIUS - 2
        painter.drawRoundedRect(
            self.rect().toRectF().adjusted(half, half, -half, -half), radius, radius
        )
        painter.end()
