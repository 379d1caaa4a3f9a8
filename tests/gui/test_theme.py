"""The visual system (app/ui/theme.py): readable text in both schemes, applied once, live."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from app.ui import colors, theme
from app.ui.matrix_picture import contrast

MIN_TEXT = 4.5
"""WCAG AA for body text."""

# Text colour -> the surfaces it is drawn on.
PAIRS = {
    "text": ("window", "surface", "raised", "button", "hover", "user_bubble", "code", "rail"),
    "secondary": ("window", "surface", "raised", "user_bubble", "rail", "hover"),
    "link": ("surface", "window", "raised"),
    "on_accent": ("accent",),
    "good": ("window", "surface"),
    "bad": ("window", "surface"),
    "note": ("window", "surface"),
    "on_banner": ("banner",),
    "on_tooltip": ("tooltip",),
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_keeps_4_5_to_1_on_every_surface_it_meets(scheme: str) -> None:
    c = theme.SCHEMES[scheme]
    low = []
    for text, surfaces in PAIRS.items():
        for surface in surfaces:
            ratio = contrast(c.color(text), c.color(surface))
            if ratio < MIN_TEXT:
                low.append(f"{text} on {surface}: {ratio:.2f}")
    # The rail's selection carries text too.
    ratio = contrast(c.color("text"), c.color("rail_selected"))
    if ratio < MIN_TEXT:
        low.append(f"text on rail_selected: {ratio:.2f}")
    assert not low, f"{scheme}: {low}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_palette_carries_the_schemes_colours(scheme: str) -> None:
    c = theme.SCHEMES[scheme]
    p = theme.palette(c)
    role = QPalette.ColorRole
    assert p.color(role.Window) == QColor(c.window)
    assert p.color(role.Highlight) == QColor(c.accent)
    assert theme.is_dark(p) is c.dark
    assert theme.colors(p) is c
    # Selected text, placeholders and tooltips are text too.
    for fg, bg in (
        (role.HighlightedText, role.Highlight),
        (role.PlaceholderText, role.Base),
        (role.ToolTipText, role.ToolTipBase),
    ):
        assert contrast(p.color(fg), p.color(bg)) >= MIN_TEXT, (scheme, fg, bg)


def test_no_style_sheet_so_palettes_reach_children(qtbot: QtBot) -> None:
    """An application style sheet stops a palette set on a widget from reaching its
    children (the confusion matrix's dark preview went white): the theme sets none."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    assert QApplication.instance().styleSheet() == ""  # type: ignore[union-attr]
    outer = QWidget()
    qtbot.addWidget(outer)
    inner = QLabel("x")
    QVBoxLayout(outer).addWidget(inner)
    own = theme.palette(theme.DARK)
    outer.setPalette(own)
    assert inner.palette().color(QPalette.ColorRole.Window) == QColor(theme.DARK.window)


def test_primary_and_quiet_actions_follow_the_scheme(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QPushButton, QToolButton

    installed = theme.installed()
    assert installed is not None
    main = QPushButton("Send")
    quiet = QToolButton()
    for w in (main, quiet):
        qtbot.addWidget(w)
    theme.set_primary(main)
    theme.set_quiet(quiet)
    before = installed.scheme
    try:
        for scheme in ("light", "dark"):
            installed.apply(scheme)
            c = theme.SCHEMES[scheme]
            assert main.palette().color(QPalette.ColorRole.Button) == QColor(c.accent)
            assert main.palette().color(QPalette.ColorRole.ButtonText) == QColor(c.on_accent)
            assert quiet.palette().color(QPalette.ColorRole.ButtonText) == QColor(c.secondary)
    finally:
        installed.apply(before)
        installed.forced = None


def test_a_disabled_primary_action_looks_disabled(qtbot: QtBot) -> None:
    """The accent is for what can be clicked: a disabled main action (New collection
    during a re-embed) is drawn in the scheme's disabled colours, as any button is."""
    from PySide6.QtWidgets import QPushButton

    installed = theme.installed()
    assert installed is not None
    main = QPushButton("New collection")
    qtbot.addWidget(main)
    theme.set_primary(main)
    before = installed.scheme
    disabled = QPalette.ColorGroup.Disabled
    try:
        for scheme in ("light", "dark"):
            installed.apply(scheme)
            accent = QColor(theme.SCHEMES[scheme].accent)
            for role in (QPalette.ColorRole.Button, QPalette.ColorRole.ButtonText):
                assert main.palette().color(disabled, role) != main.palette().color(role)
                everyone = QGuiApplication.palette().color(disabled, role)
                assert main.palette().color(disabled, role) == everyone
            assert main.palette().color(disabled, QPalette.ColorRole.Button) != accent
    finally:
        installed.apply(before)
        installed.forced = None


def test_the_type_scale_orders_its_sizes(qapp: QApplication) -> None:
    body = theme.font(theme.Type.BODY).pointSizeF()
    assert theme.font(theme.Type.DISPLAY).pointSizeF() > theme.font(theme.Type.TITLE).pointSizeF()
    assert theme.font(theme.Type.TITLE).pointSizeF() > theme.font(theme.Type.HEADING).pointSizeF()
    assert theme.font(theme.Type.HEADING).pointSizeF() > body
    assert theme.font(theme.Type.SECONDARY).pointSizeF() < body
    assert (
        theme.font(theme.Type.MONO).fixedPitch()
        or "mono" in theme.font(theme.Type.MONO).family().lower()
    )
    assert theme.SPACING == (4, 8, 12, 16, 24)
    assert len(set(theme.Type)) == 7, "every style is its own"
    assert (
        not theme.font(theme.Type.BODY).fixedPitch()
        or theme.font(theme.Type.BODY).family() == QGuiApplication.font().family()
    )


def test_the_scheme_switches_live_and_secondary_text_follows(qtbot: QtBot) -> None:
    installed = theme.installed()
    assert installed is not None, "tests/gui/conftest.py installs the theme, as start-up does"
    label = QLabel("smollm2")
    qtbot.addWidget(label)
    theme.set_type(label, theme.Type.SECONDARY)
    before = installed.scheme
    try:
        with qtbot.waitSignal(installed.changed):
            installed.apply("dark" if before == "light" else "light")
        now = theme.SCHEMES[installed.scheme]
        assert QGuiApplication.palette().color(QPalette.ColorRole.Window) == QColor(now.window)
        qtbot.waitUntil(
            lambda: label.palette().color(QPalette.ColorRole.WindowText) == QColor(now.secondary)
        )
        assert colors.bad() == QColor(now.bad)
    finally:
        installed.apply(before)
        installed.forced = None


def test_the_system_setting_is_followed(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop announces a new scheme (QStyleHints.colorSchemeChanged): the window
    takes it at once. Offscreen the platform cannot be asked, so the signal is sent here
    as the platform would send it."""
    monkeypatch.delenv(theme.THEME_ENV, raising=False)
    hints = QGuiApplication.styleHints()
    installed = theme.installed()
    assert installed is not None
    before = installed.scheme
    try:
        installed.forced = None
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert installed.scheme == "dark"
        assert colors.is_dark()
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert installed.scheme == "light"
        assert not colors.is_dark()
    finally:
        installed.system = None
        installed.apply(before)
        installed.forced = None
