"""Finding what a window clips: a control outside its parent, squeezed below its
minimum, or a label or button whose words do not fit (tests/gui/test_fit.py)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTabBar,
    QWidget,
)

from app.ui.elided_label import ElidedLabel


def _scrolled(widget: QWidget, top: QWidget) -> bool:
    """Inside a scroll area's content (it scrolls: clipping is its job) or an item view."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, QAbstractItemView):
            return True
        if (
            isinstance(parent, QAbstractScrollArea)
            and widget is not parent.viewport()
            and parent.viewport().isAncestorOf(widget)
        ):
            return True
        parent = parent.parentWidget()
    return False


def _name(widget: QWidget) -> str:
    text = ""
    if isinstance(widget, QAbstractButton | QLabel):
        text = widget.text()[:40]
    return f"{type(widget).__name__} {widget.accessibleName() or widget.objectName()!r} {text!r}"


def clipped(top: QWidget) -> list[str]:
    """What ``top`` shows cut off, one line each (empty: nothing)."""
    problems: list[str] = []
    for widget in top.findChildren(QWidget):
        if not widget.isVisible() or widget.isWindow() or _scrolled(widget, top):
            continue
        if widget.objectName().startswith("qt_") and not isinstance(widget, QTabBar):
            continue  # Qt's own parts (scroll bars, viewports, splitter handles)
        parent = widget.parentWidget()
        if parent is None or (isinstance(parent, QSplitter) and widget.width() == 0):
            continue  # a collapsed splitter pane: closed on purpose, not cut
        inside = parent.rect().adjusted(-1, -1, 1, 1)
        if not inside.contains(widget.geometry()):
            problems.append(f"{_name(widget)} at {widget.geometry()} outside {parent.rect()}")
            continue
        policy = widget.sizePolicy()
        minimum = widget.minimumSizeHint()
        if (
            policy.horizontalPolicy() != QSizePolicy.Policy.Ignored
            and minimum.isValid()
            and widget.width() + 1 < minimum.width()
            and not isinstance(widget, QAbstractScrollArea)
        ):
            problems.append(f"{_name(widget)} {widget.width()} px, needs {minimum.width()}")
            continue
        if (isinstance(widget, QAbstractButton) and widget.text()) or (
            isinstance(widget, QLabel)
            and not isinstance(widget, ElidedLabel)
            and not widget.wordWrap()
            and widget.text()
            and policy.horizontalPolicy() != QSizePolicy.Policy.Ignored
            and widget.pixmap().isNull()
        ):
            wanted = widget.sizeHint().width()
            if widget.width() + 1 < wanted:
                problems.append(f"{_name(widget)} {widget.width()} px, its words need {wanted}")
        elif isinstance(widget, QLabel) and widget.wordWrap() and widget.text():
            # A wrapped label needs its height for its width.
            needed = widget.heightForWidth(widget.width())
            if needed > 0 and widget.height() + 1 < needed:
                problems.append(f"{_name(widget)} {widget.height()} px high, needs {needed}")
    return problems
