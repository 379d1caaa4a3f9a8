"""A row of controls that wraps onto more lines when the window is narrow.

Button rows and choice bars use it instead of a ``QHBoxLayout``: at 800 px a row of eight
buttons does not fit on one line, and a box layout would make the whole window as wide as
the row (or, squeezed, cut the buttons' words). :class:`FlowLayout` lays its items left
to right and starts a new line where the next one would not fit, so its minimum width
is that of its widest item. ``addStretch`` is honoured on a line: items after a stretch
go to the line's right end (the "secondary actions on the right" of a toolbar); on a
line without one, items whose horizontal size policy expands share the room left.

Based on Qt's own Flow Layout example.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QLayout,
    QLayoutItem,
    QSizePolicy,
    QSpacerItem,
    QWidget,
    QWidgetItem,
)

from app.ui import theme


class FlowLayout(QLayout):
    """Items left to right, wrapped; ``addStretch()`` pushes the rest of a line right."""

    def __init__(self, parent: QWidget | None = None, spacing: int = theme.S) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        if parent is None:
            self.setContentsMargins(0, 0, 0, 0)

    # --- QLayout's interface -------------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def addStretch(self, _stretch: int = 1) -> None:
        """What follows goes to the right end of its line."""
        spacer = QSpacerItem(0, 0, QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self._items.append(spacer)
        self.invalidate()

    def insertWidget(self, index: int, widget: QWidget) -> None:
        self.addChildWidget(widget)
        self._items.insert(index, QWidgetItem(widget))
        self.invalidate()

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        if not 0 <= index < len(self._items):
            return None
        return self._items.pop(index)

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        """All on one line."""
        width = height = 0
        visible = [item for item in self._visible() if not isinstance(item, QSpacerItem)]
        for item in visible:
            hint = item.sizeHint()
            width += hint.width()
            height = max(height, hint.height())
        width += self.spacing() * max(0, len(visible) - 1)
        margins = self.contentsMargins()
        return QSize(width, height) + QSize(
            margins.left() + margins.right(), margins.top() + margins.bottom()
        )

    def minimumSize(self) -> QSize:
        """As wide as the widest item; as tall as the lines need at that width."""
        size = QSize()
        for item in self._visible():
            size = size.expandedTo(item.minimumSize())
        margins: QMargins = self.contentsMargins()
        size += QSize(margins.left() + margins.right(), margins.top() + margins.bottom())
        return size

    # --- placing -------------------------------------------------------------------------

    def _visible(self) -> list[QLayoutItem]:
        return [item for item in self._items if isinstance(item, QSpacerItem) or not item.isEmpty()]

    def _lines(self, width: int) -> list[list[QLayoutItem]]:
        lines: list[list[QLayoutItem]] = [[]]
        used = 0
        spacing = self.spacing()
        for item in self._visible():
            if isinstance(item, QSpacerItem):
                lines[-1].append(item)
                continue
            hint = item.sizeHint().width()
            line = [i for i in lines[-1] if not isinstance(i, QSpacerItem)]
            needed = hint if not line else used + spacing + hint
            if line and needed > width:
                lines.append([item])
                used = hint
            else:
                lines[-1].append(item)
                used = needed
        return lines

    def _place(self, rect: QRect, *, move: bool) -> int:
        margins = self.contentsMargins()
        area = rect.marginsRemoved(margins)
        spacing = self.spacing()
        y = area.y()
        for line in self._lines(area.width()):
            widgets = [i for i in line if not isinstance(i, QSpacerItem)]
            if not widgets:
                continue
            height = max(i.sizeHint().height() for i in widgets)
            if move:
                natural = sum(i.sizeHint().width() for i in widgets)
                natural += spacing * (len(widgets) - 1)
                room = max(0, area.width() - natural)
                growing = [] if len(widgets) < len(line) else [i for i in widgets if _grows(i)]
                share = room // len(growing) if growing else 0
                x = area.x()
                for item in line:
                    if isinstance(item, QSpacerItem):
                        x += room  # the rest of the line goes right
                        room = 0
                        continue
                    hint = item.sizeHint()
                    extra = share if item in growing else 0
                    item_width = min(hint.width() + extra, area.width())
                    item.setGeometry(
                        QRect(
                            QPoint(x, y + (height - hint.height()) // 2),
                            QSize(item_width, hint.height()),
                        )
                    )
                    x += item_width + spacing
            y += height + spacing
        return y - spacing - rect.y() + margins.bottom() if y > area.y() else 0


def _grows(item: QLayoutItem) -> bool:
    widget = item.widget()
    if widget is None:
        return False
    return bool(widget.sizePolicy().expandingDirections() & Qt.Orientation.Horizontal)
