"""The navigation rail: one entry per page, an icon and a label, icons only when narrow.

The rail is a list (one Tab stop; arrows, Home and End move, as in any list), drawn by
:class:`RailDelegate`: the selected page on an accent tint, hover and the keyboard focus
marked, each entry's shortcut in its tooltip. Pages are data: :meth:`NavigationRail.add_page`
takes a name, and its icon comes from :data:`PAGE_ICONS` (a page without one gets a
generic icon), so a new page needs no code here.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QFocusEvent, QIcon, QKeyEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.ui import theme
from app.ui.icons import icon

PAGE_ICONS = {
    "Chat": "message-circle",
    "Documents": "file-text",
    "Classify": "tags",
    "Models": "box",
}
DEFAULT_ICON = "box"

ICON_SIZE = 20
WIDE_WIDTH = 156
"""The rail with labels."""
COMPACT_WIDTH = ICON_SIZE + 2 * theme.L + 2 * theme.S
"""The rail with icons only."""
ROW_HEIGHT = 40
KEY_ROLE = Qt.ItemDataRole.UserRole + 1


class RailDelegate(QStyledItemDelegate):
    """Draws an entry: a rounded tint when selected or hovered, the icon, the label."""

    def __init__(self, rail: NavigationRail) -> None:
        super().__init__(rail)
        self.rail = rail

    def sizeHint(
        self, _option: QStyleOptionViewItem, _index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        width = COMPACT_WIDTH if self.rail.compact else WIDE_WIDTH
        return QSize(width - 2 * theme.S, ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        c = theme.colors(option.palette)
        rect: QRect = option.rect.adjusted(0, 2, 0, -2)
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        if selected:
            painter.setBrush(c.color("rail_selected"))
            painter.drawRoundedRect(rect, theme.RADIUS, theme.RADIUS)
        elif hovered:
            painter.setBrush(c.color("hover"))
            painter.drawRoundedRect(rect, theme.RADIUS, theme.RADIUS)
        if state & QStyle.StateFlag.State_HasFocus and self.rail.keyboard_focus:
            pen = QPen(c.color("focus"), theme.FOCUS_WIDTH)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            half = theme.FOCUS_WIDTH / 2
            painter.drawRoundedRect(
                rect.toRectF().adjusted(half, half, -half, -half), theme.RADIUS, theme.RADIUS
            )
        icon_value = index.data(Qt.ItemDataRole.DecorationRole)
        size = ICON_SIZE
        if self.rail.compact:
            left = rect.left() + (rect.width() - size) // 2
        else:
            left = rect.left() + theme.M
        icon_rect = QRect(left, rect.top() + (rect.height() - size) // 2, size, size)
        if isinstance(icon_value, QIcon):
            mode = QIcon.Mode.Selected if selected else QIcon.Mode.Normal
            icon_value.paint(painter, icon_rect, Qt.AlignmentFlag.AlignCenter, mode)
        if not self.rail.compact:
            text_rect = rect.adjusted(left - rect.left() + size + theme.M, 0, -theme.XS, 0)
            font = theme.font(theme.Type.STRONG if selected else theme.Type.BODY, self.rail.font())
            painter.setFont(font)
            painter.setPen(c.color("text"))
            text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
            elided = painter.fontMetrics().elidedText(
                text, Qt.TextElideMode.ElideRight, text_rect.width()
            )
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()


class NavigationRail(QListWidget):
    """The pages, by icon and label; ``currentRowChanged`` says which to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rail")
        # Its own background, kept in the scheme's rail colour.
        self.setAutoFillBackground(True)
        theme.Tint.attach(
            self, {QPalette.ColorRole.Base: "rail", QPalette.ColorRole.Window: "rail"}
        )
        self.setAccessibleName("Pages")
        self.setProperty("drawsOwnFocus", True)  # the focused entry is ringed, not the list
        self.compact = False
        self.keyboard_focus = False
        self.setItemDelegate(RailDelegate(self))
        self.setMouseTracking(True)
        self.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSpacing(0)
        self.setViewportMargins(theme.S, theme.S, theme.S, theme.S)
        self.setUniformItemSizes(True)
        # Its minimum is the compact width whatever it shows: the window's minimum must not
        # depend on the mode, or a window at its minimum would never turn compact.
        self.setMinimumWidth(COMPACT_WIDTH)
        self.setMaximumWidth(WIDE_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Expanding)

    def add_page(self, name: str, keys: str = "") -> QListWidgetItem:
        """An entry for the page ``name``; ``keys`` (e.g. "Ctrl+2") goes in its tooltip."""
        item = QListWidgetItem(icon(PAGE_ICONS.get(name, DEFAULT_ICON)), name, self)
        item.setData(KEY_ROLE, keys)
        item.setToolTip(f"{name} ({keys})" if keys else name)
        item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, f"Shortcut {keys}" if keys else "")
        return item

    def sizeHint(self) -> QSize:
        return QSize(COMPACT_WIDTH if self.compact else WIDE_WIDTH, super().sizeHint().height())

    def names(self) -> list[str]:
        return [self.item(row).text() for row in range(self.count())]

    def set_compact(self, compact: bool) -> None:
        """Icons only (True) or icons and labels."""
        if compact == self.compact:
            return
        self.compact = compact
        self.setMaximumWidth(COMPACT_WIDTH if compact else WIDE_WIDTH)
        self.updateGeometry()
        self.doItemsLayout()
        self.viewport().update()

    def focusInEvent(self, event: QFocusEvent) -> None:
        self.keyboard_focus = event.reason() not in (
            Qt.FocusReason.MouseFocusReason,
            Qt.FocusReason.PopupFocusReason,
        )
        super().focusInEvent(event)
        self.viewport().update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.keyboard_focus = False
        super().focusOutEvent(event)
        self.viewport().update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.keyboard_focus = True  # moving with the keys shows where the focus is
        super().keyPressEvent(event)
