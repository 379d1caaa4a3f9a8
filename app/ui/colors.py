"""Colours that mean something (good, bad, a note, a warning banner), in light and dark.

They are the theme's (:mod:`app.ui.theme`); a palette role cannot hold them, so each is
picked from the light or dark set by the application's palette when it is asked for;
item models ask on every paint, so they follow a scheme change at once.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from app.ui import theme
from app.ui.theme import is_dark

__all__ = ["Banner", "bad", "good", "is_dark", "note", "text_style"]


def _pick(name: str, palette: QPalette | None) -> QColor:
    return theme.colors(palette).color(name)


def good(palette: QPalette | None = None) -> QColor:
    return _pick("good", palette)


def bad(palette: QPalette | None = None) -> QColor:
    return _pick("bad", palette)


def note(palette: QPalette | None = None) -> QColor:
    return _pick("note", palette)


def text_style(name: str, *, bold: bool = False) -> str:
    """A ``color:`` style sheet for ``good``/``bad``/``note`` text, for the current scheme."""
    weight = " font-weight: bold;" if bold else ""
    return f"color: {_pick(name, None).name()};{weight}"


class Banner(QLabel):
    """A highlighted notice (working offline...) that follows the light or dark scheme.

    Its colours live in its palette, not a style sheet: a widget with a style sheet hears
    nothing when the application's palette changes, and this one must re-pick its colours.
    """

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setContentsMargins(theme.S, theme.XS, theme.S, theme.XS)
        self._recolor()
        theme.on_palette_change(self, self._recolor)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._recolor()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().color(QPalette.ColorRole.Window))
        painter.drawRoundedRect(self.rect(), theme.RADIUS, theme.RADIUS)
        painter.end()
        super().paintEvent(event)

    def _recolor(self) -> None:
        # The application's palette: this label's own one carries the banner's colours.
        scheme = theme.colors()
        background, foreground = scheme.banner, scheme.on_banner
        palette = self.palette()
        if palette.color(QPalette.ColorRole.Window) == QColor(background):
            return  # already right; setting it again would send PaletteChange again
        palette = QPalette(palette)
        palette.setResolveMask(0)  # its own colours only; the rest follow the application
        palette.setColor(QPalette.ColorRole.Window, QColor(background))
        palette.setColor(QPalette.ColorRole.WindowText, QColor(foreground))
        self.setPalette(palette)
