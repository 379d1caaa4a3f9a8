"""Colours that mean something (good, bad, a note, a warning banner), in light and dark.

Everything else takes its colours from the palette, so the window follows the system's
light or dark scheme. These few cannot come from a palette role, so each has a light
and a dark variant, chosen from the application's palette when it is asked for; item
models ask on every paint, so they follow a scheme change at once.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QWidget

# Each pair keeps a contrast of at least 4.5:1 on Fusion's window colour of its scheme.
_LIGHT = {"good": "#1b7f3b", "bad": "#b00020", "note": "#8a5a00"}
_DARK = {"good": "#6fdc95", "bad": "#ff8a8a", "note": "#f2bd5c"}
_BANNER_LIGHT = ("#fff4d6", "#5c4300")
_BANNER_DARK = ("#4a3a12", "#ffe4a3")


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the palette (the application's, by default) is a dark scheme."""
    palette = palette if palette is not None else QGuiApplication.palette()
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    return window.lightness() < text.lightness()


def _pick(name: str, palette: QPalette | None) -> QColor:
    return QColor((_DARK if is_dark(palette) else _LIGHT)[name])


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
        self.setContentsMargins(8, 4, 8, 4)
        self._recolor()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._recolor()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().color(QPalette.ColorRole.Window))
        painter.drawRoundedRect(self.rect(), 3, 3)
        painter.end()
        super().paintEvent(event)

    def _recolor(self) -> None:
        # The application's palette: this label's own one carries the banner's colours.
        background, foreground = _BANNER_DARK if is_dark() else _BANNER_LIGHT
        palette = self.palette()
        if palette.color(QPalette.ColorRole.Window) == QColor(background):
            return  # already right; setting it again would send PaletteChange again
        palette.setColor(QPalette.ColorRole.Window, QColor(background))
        palette.setColor(QPalette.ColorRole.WindowText, QColor(foreground))
        self.setPalette(palette)
