"""The window's icons: Lucide SVGs (resources/icons/lucide), tinted to the theme, crisp.

An icon is drawn from its SVG at the size asked for (and the screen's pixel ratio), in
the theme's text colour, lighter when disabled and in the accent when selected or
checked. The colour is read when the icon is painted, so icons follow a switch between
light and dark without being made again.

    button.setIcon(icon("copy"))
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app.core.resources import resource_path
from app.ui import theme

ICON_SET = "lucide"


def icon_file(name: str) -> str:
    return str(resource_path("icons", ICON_SET, f"{name}.svg"))


@cache
def _svg(name: str) -> str:
    with open(icon_file(name), encoding="utf-8") as handle:
        return handle.read()


@cache
def _renderer(name: str, color: str) -> QSvgRenderer:
    return QSvgRenderer(QByteArray(_svg(name).replace("currentColor", color).encode()))


def tint(mode: QIcon.Mode, state: QIcon.State) -> str:
    """The colour an icon is drawn in, for the scheme shown now."""
    c = theme.colors()
    if mode == QIcon.Mode.Disabled:
        return c.disabled
    if mode == QIcon.Mode.Selected or state == QIcon.State.On:
        return c.link
    return c.text


class TintedSvgEngine(QIconEngine):
    """Renders one SVG at any size, in the theme's colour for the icon's mode."""

    def __init__(self, name: str, color: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.color = color
        """A fixed colour (a theme field's name), else by mode and state."""

    def _color(self, mode: QIcon.Mode, state: QIcon.State) -> str:
        if self.color is not None:
            return str(getattr(theme.colors(), self.color))
        return tint(mode, state)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        _renderer(self.name, self._color(mode, state)).render(painter, rect.toRectF())

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self.scaledPixmap(size, mode, state, 1.0)

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        device = size * scale
        image = QImage(device, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.paint(painter, QRect(QPoint(0, 0), device), mode, state)
        painter.end()
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def actualSize(self, size: QSize, _mode: QIcon.Mode, _state: QIcon.State) -> QSize:
        return size

    def clone(self) -> QIconEngine:
        return TintedSvgEngine(self.name, self.color)

    def key(self) -> str:
        return "driftless-tinted-svg"

    def iconName(self) -> str:
        return self.name


def icon(name: str, color: str | None = None) -> QIcon:
    """The icon ``name`` (a file in resources/icons/lucide, without ``.svg``); ``color``:
    a :class:`~app.ui.theme.Colors` field to draw it in always (default: by state)."""
    return QIcon(TintedSvgEngine(name, color))
