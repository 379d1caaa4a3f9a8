"""A visible focus ring for the controls whose style draws none.

Fusion shows keyboard focus in text fields and lists, but not on push buttons, flat
buttons, tool buttons or combo boxes: Tab moves on and nothing on screen says where to.
One :class:`FocusRing` per window draws a highlight-coloured outline around such a
control while it has focus from the keyboard (Tab, a shortcut, the program), not after a
mouse click. It is drawn with the palette, so it follows the light or dark scheme, and it
is transparent to the mouse.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFocusEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QWidget

RING_WIDTH = 2
_RINGED = (QAbstractButton, QComboBox)


class FocusRing(QWidget):
    """Follows keyboard focus among the buttons and combo boxes of ``window``."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.target: QWidget | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hide()
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.FocusIn and isinstance(watched, QWidget):
            assert isinstance(event, QFocusEvent)
            self._on_focus_in(watched, event.reason())
        elif watched is self.target and kind in (
            QEvent.Type.FocusOut,
            QEvent.Type.Hide,
            QEvent.Type.Destroy,
        ):
            self._follow(None)
        elif (
            self.target is not None
            and kind in (QEvent.Type.Move, QEvent.Type.Resize)
            and isinstance(watched, QWidget)
            and (watched is self.target or watched.isAncestorOf(self.target))
        ):
            self._place()  # the control moved, or something holding it (a scroll)
        return False

    def _on_focus_in(self, widget: QWidget, reason: Qt.FocusReason) -> None:
        if widget.window() is not self._window:
            return
        by_mouse = reason == Qt.FocusReason.MouseFocusReason
        self._follow(widget if isinstance(widget, _RINGED) and not by_mouse else None)

    def _follow(self, widget: QWidget | None) -> None:
        self.target = widget
        if widget is None:
            self.hide()
            return
        self._place()
        self.show()
        self.raise_()

    def _place(self) -> None:
        target = self.target
        if target is None:
            return
        # Kept a child of the window (a ring inside a message would die with it) and
        # placed in the window's coordinates, clipped to what shows of the control.
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

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), RING_WIDTH)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        half = RING_WIDTH / 2
        painter.drawRoundedRect(self.rect().toRectF().adjusted(half, half, -half, -half), 4, 4)
        painter.end()
