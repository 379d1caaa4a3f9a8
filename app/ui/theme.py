"""The window's one visual system: spacing, type, colours and states, light and dark.

Every page takes its sizes and colours from here; nothing else in ``app/ui`` names a
colour or a font size. The parts:

- **Spacing** (:data:`XS` 4, :data:`S` 8, :data:`M` 12, :data:`L` 16, :data:`XL` 24 px) for
  margins and gaps, and :data:`RADIUS` for rounded corners.
- **Type** (:class:`Type`): a headline number, a title, a heading, body text, secondary
  text (smaller and lighter: which model, a status note) and monospace for code and ids.
  :func:`font` gives the font, :func:`set_type` puts it on a widget.
- **Colours** (:class:`Colors`): one accent, the text and surface colours, the states
  (hover, pressed, focus ring, disabled) and the colours that mean something (good, bad,
  a note, a banner), in a light and a dark set (:data:`LIGHT`, :data:`DARK`). Text keeps a
  contrast of at least 4.5:1 on the surfaces it is drawn on (tests/gui/test_theme.py
  measures it).

:func:`install` applies it once at start (:mod:`app.ui.application`): Fusion and the
palette of the system's scheme (``QStyleHints.colorScheme``). There is no style sheet:
the few widgets that differ (the primary action, quiet actions, secondary text) carry
palette roles of their own (:class:`Tint`), kept in step with the scheme. When the
system switches between light and dark, the window follows at once.
``DRIFTLESS_THEME=light`` or ``dark`` picks one whatever the system says (screenshots).

Widgets that draw themselves (the navigation rail, message bubbles, the focus ring) ask
:func:`colors` at paint time, so they follow a palette change too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from enum import Enum

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory, QWidget

THEME_ENV = "DRIFTLESS_THEME"
"""``light`` or ``dark``: that scheme whatever the system says; unset or ``system``: follow it."""

# --- spacing ---------------------------------------------------------------------------

XS = 4
S = 8
M = 12
L = 16
XL = 24
SPACING = (XS, S, M, L, XL)
RADIUS = 6
"""Corners of buttons, bubbles, the rail's selection."""
FOCUS_WIDTH = 2
"""The focus ring's line."""
READING_CHARACTERS = 80
"""A comfortable line for prose, in average characters (the chat's reading column)."""


# --- type ------------------------------------------------------------------------------


class Type(Enum):
    """The type scale: (name, size relative to body text, weight). The name keeps two
    styles of one size and weight apart (an Enum would make them one)."""

    DISPLAY = ("display", 2.4, QFont.Weight.DemiBold)
    """One number that is the answer (an evaluation's accuracy)."""
    TITLE = ("title", 1.45, QFont.Weight.DemiBold)
    HEADING = ("heading", 1.15, QFont.Weight.DemiBold)
    BODY = ("body", 1.0, QFont.Weight.Normal)
    STRONG = ("strong", 1.0, QFont.Weight.DemiBold)
    SECONDARY = ("secondary", 0.92, QFont.Weight.Normal)
    MONO = ("mono", 1.0, QFont.Weight.Normal)


def font(kind: Type, base: QFont | None = None) -> QFont:
    """The font of ``kind``, scaled from ``base`` (the application's font by default)."""
    base = QFont(base if base is not None else QGuiApplication.font())
    if kind is Type.MONO:
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(base.pointSizeF() * 0.95 if base.pointSizeF() > 0 else 9.0)
        return mono
    _name, scale, weight = kind.value
    if base.pointSizeF() > 0:
        base.setPointSizeF(base.pointSizeF() * scale)
    elif base.pixelSize() > 0:
        base.setPixelSize(round(base.pixelSize() * scale))
    base.setWeight(weight)
    return base


def set_type(widget: QWidget, kind: Type) -> None:
    """Give ``widget`` the font of ``kind``; secondary text is also drawn lighter."""
    widget.setFont(font(kind, widget.font()))
    widget.setProperty("textStyle", kind.name.lower())
    if kind is Type.SECONDARY:
        SecondaryColor.attach(widget)


# --- colours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Colors:
    """One scheme's colours. Text colours are chosen for 4.5:1 on the surfaces they meet."""

    window: str
    """Behind everything: the page background."""
    surface: str
    """Fields, lists, the conversation (QPalette's Base)."""
    raised: str
    """A card or a model's message on the surface; alternate rows."""
    button: str
    border: str
    text: str
    secondary: str
    """Secondary text (which model, a status note), on window, surface and raised."""
    disabled: str
    accent: str
    """The one accent: selection, the primary button, links, the focus ring."""
    on_accent: str
    link: str
    """The accent as text on the surface."""
    hover: str
    pressed: str
    focus: str
    user_bubble: str
    """The person's messages: a tint of the accent."""
    code: str
    """Code blocks' background."""
    rail: str
    """The navigation rail's background."""
    rail_selected: str
    good: str
    bad: str
    note: str
    banner: str
    on_banner: str
    tooltip: str
    on_tooltip: str
    dark: bool

    def color(self, name: str) -> QColor:
        return QColor(getattr(self, name))


LIGHT = Colors(
    window="#f5f6f8",
    surface="#ffffff",
    raised="#f0f2f5",
    button="#fbfbfc",
    border="#c9ced6",
    text="#1c2027",
    secondary="#545c69",
    disabled="#8b929c",
    accent="#1f66a3",
    on_accent="#ffffff",
    link="#1a5c94",
    hover="#e6eaef",
    pressed="#d5dbe3",
    focus="#1f66a3",
    user_bubble="#e2ecf7",
    code="#eceff3",
    rail="#eaedf1",
    rail_selected="#d3e1f0",
    good="#1b7f3b",
    bad="#b00020",
    note="#8a5a00",
    banner="#fff4d6",
    on_banner="#5c4300",
    tooltip="#2a2f37",
    on_tooltip="#f2f4f7",
    dark=False,
)

DARK = Colors(
    window="#1d2025",
    surface="#24282e",
    raised="#2c3139",
    button="#2f343c",
    border="#454c57",
    text="#e5e8ec",
    secondary="#a9b1bd",
    disabled="#6f7782",
    accent="#2d6aa3",
    on_accent="#ffffff",
    link="#7fb8ec",
    hover="#363c45",
    pressed="#414853",
    focus="#6aaeea",
    user_bubble="#223a52",
    code="#181b1f",
    rail="#181b1f",
    rail_selected="#29415a",
    good="#6fdc95",
    bad="#ff8a8a",
    note="#f2bd5c",
    banner="#4a3a12",
    on_banner="#ffe4a3",
    tooltip="#e5e8ec",
    on_tooltip="#1c2027",
    dark=True,
)

SCHEMES = {"light": LIGHT, "dark": DARK}


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the palette (the application's, by default) is a dark scheme."""
    palette = palette if palette is not None else QGuiApplication.palette()
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    return window.lightness() < text.lightness()


def colors(palette: QPalette | None = None) -> Colors:
    """The colours of the scheme ``palette`` shows (the application's, by default)."""
    return DARK if is_dark(palette) else LIGHT


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a share ``t`` towards ``b``."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def palette(c: Colors) -> QPalette:
    """A full QPalette for Fusion from one scheme's colours."""
    p = QPalette()
    role = QPalette.ColorRole
    active = {
        role.Window: c.window,
        role.WindowText: c.text,
        role.Base: c.surface,
        role.AlternateBase: c.raised,
        role.Text: c.text,
        role.Button: c.button,
        role.ButtonText: c.text,
        role.BrightText: c.bad,
        role.Highlight: c.accent,
        role.HighlightedText: c.on_accent,
        role.Link: c.link,
        role.LinkVisited: c.link,
        role.ToolTipBase: c.tooltip,
        role.ToolTipText: c.on_tooltip,
        role.PlaceholderText: c.secondary,
        role.Accent: c.accent,
    }
    for r, value in active.items():
        p.setColor(r, QColor(value))
    # Fusion shades its bevels from these.
    button = QColor(c.button)
    p.setColor(role.Light, button.lighter(115))
    p.setColor(role.Midlight, mix(button, QColor(c.border), 0.5))
    p.setColor(role.Mid, QColor(c.border))
    p.setColor(role.Dark, QColor(c.border).darker(130))
    p.setColor(role.Shadow, QColor("#000000"))
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText, role.PlaceholderText):
        p.setColor(disabled, r, QColor(c.disabled))
    p.setColor(disabled, role.Highlight, QColor(c.border))
    p.setColor(disabled, role.Base, QColor(c.window))
    # A selection in a list without focus stays visible, in the quieter tint.
    inactive = QPalette.ColorGroup.Inactive
    p.setColor(inactive, role.Highlight, QColor(c.rail_selected))
    p.setColor(inactive, role.HighlightedText, QColor(c.text))
    return p


# --- secondary text --------------------------------------------------------------------


Roles = dict[QPalette.ColorRole, str]
SECONDARY_ROLES: Roles = {
    QPalette.ColorRole.WindowText: "secondary",
    QPalette.ColorRole.Text: "secondary",
    QPalette.ColorRole.ButtonText: "secondary",
}
PRIMARY_ROLES: Roles = {
    QPalette.ColorRole.Button: "accent",
    QPalette.ColorRole.ButtonText: "on_accent",
}


class Tint(QObject):
    """Keeps some of a widget's palette roles in theme colours (``Colors`` field names),
    picked again whenever the application's palette changes, shown or hidden.

    The colours live in the widget's palette, never a style sheet: a style sheet keeps
    the colours of the scheme it was written for, and any style sheet on the application
    stops palettes set on a widget from reaching its children.
    """

    def __init__(self, widget: QWidget, roles: Roles) -> None:
        super().__init__(widget)
        self.setObjectName("theme-tint")
        self.roles = dict(roles)
        on_palette_change(self, self.recolor)
        self.recolor()

    @classmethod
    def attach(cls, widget: QWidget, roles: Roles) -> Tint:
        keeper = widget.findChild(Tint, "theme-tint", Qt.FindChildOption.FindDirectChildrenOnly)
        if keeper is not None:
            keeper.roles.update(roles)
            keeper.recolor()
            return keeper
        return cls(widget, roles)

    @Slot()
    def recolor(self) -> None:
        widget = self.parent()
        if not isinstance(widget, QWidget):
            return
        app_palette = QGuiApplication.palette()
        scheme = colors(app_palette)
        current = widget.palette()
        active, disabled = QPalette.ColorGroup.Active, QPalette.ColorGroup.Disabled
        if all(
            current.color(active, r) == scheme.color(name)
            and current.color(disabled, r) == app_palette.color(disabled, r)
            for r, name in self.roles.items()
        ):
            return
        new = QPalette(current)
        # Only these roles are the widget's own: the rest follow its parent.
        new.setResolveMask(0)
        for role, name in self.roles.items():
            new.setColor(role, scheme.color(name))
            # A disabled widget looks disabled as every other does (an accent button
            # greyed out, not an enabled-looking one that ignores clicks).
            new.setColor(disabled, role, app_palette.color(disabled, role))
        widget.setPalette(new)


class SecondaryColor:
    """Secondary text: the window text, lighter, in either scheme."""

    @staticmethod
    def attach(widget: QWidget) -> None:
        Tint.attach(widget, SECONDARY_ROLES)


def set_primary(button: QWidget) -> None:
    """The page's main action: in the accent, and the default for Enter where it applies."""
    button.setProperty("primary", True)
    Tint.attach(button, PRIMARY_ROLES)
    font = button.font()
    font.setWeight(QFont.Weight.DemiBold)
    button.setFont(font)


def set_quiet(button: QWidget) -> None:
    """A secondary action drawn without a frame until the pointer is over it."""
    button.setProperty("quiet", True)
    if hasattr(button, "setAutoRaise"):
        button.setAutoRaise(True)
    Tint.attach(button, SECONDARY_ROLES)


def on_palette_change(receiver: QObject, slot: object) -> None:
    """Call ``slot`` whenever the application's palette changes (the theme switched, or
    the platform handed a new one), for as long as ``receiver`` lives.

    A widget hidden at that moment hears of it too, unlike its PaletteChange event.
    (``QGuiApplication.paletteChanged`` is deprecated in favour of that event, but still
    sent, and the event does not reach every hidden widget.)
    """
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        app.paletteChanged.connect(slot)


# --- applying it -----------------------------------------------------------------------


def wanted_scheme(system: Qt.ColorScheme | None = None) -> str:
    """``light`` or ``dark``: the override in the environment, else the system's
    (``system``, or what the style hints say now)."""
    forced = os.environ.get(THEME_ENV, "").strip().lower()
    if forced in SCHEMES:
        return forced
    hints = QGuiApplication.styleHints()
    scheme = system
    if scheme is None:
        scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Dark:
        return "dark"
    if scheme == Qt.ColorScheme.Light:
        return "light"
    # The platform does not say: read the palette it handed Qt before we replaced it.
    return "dark" if is_dark(_SYSTEM_PALETTE.get("palette")) else "light"


_SYSTEM_PALETTE: dict[str, QPalette] = {}


class Theme(QObject):
    """Applies a scheme to the application; follows the system's light/dark setting."""

    changed = Signal(str)  # "light" or "dark"

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.scheme = ""
        self.forced: str | None = None
        self.system: Qt.ColorScheme | None = None
        """The scheme the system last announced (None: ask the style hints)."""
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_color_scheme_changed)

    def apply(self, scheme: str | None = None) -> None:
        """Apply ``scheme`` (``light``/``dark``), or the one the system (or override) wants."""
        if scheme is not None:
            self.forced = scheme
        chosen = self.forced or wanted_scheme(self.system)
        c = SCHEMES[chosen]
        self.app.setPalette(palette(c))
        changed = chosen != self.scheme
        self.scheme = chosen
        if changed:
            self.changed.emit(chosen)

    def follow_system(self) -> None:
        self.forced = None
        self.apply()

    @Slot(Qt.ColorScheme)
    def _on_color_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        self.system = scheme
        self.apply()


_THEME: list[Theme] = []


def install(app: QApplication) -> Theme:
    """Fusion and the palette of the wanted scheme; once per application."""
    if _THEME:
        return _THEME[0]
    _SYSTEM_PALETTE["palette"] = QPalette(app.palette())
    style = QStyleFactory.create("Fusion")
    if style is not None:
        app.setStyle(style)
    theme = Theme(app)
    _THEME.append(theme)
    theme.apply()
    return theme


def installed() -> Theme | None:
    return _THEME[0] if _THEME else None


def color_names() -> list[str]:
    """Every colour field of :class:`Colors` (for the contrast test)."""
    return [f.name for f in fields(Colors) if f.type in ("str", str)]
