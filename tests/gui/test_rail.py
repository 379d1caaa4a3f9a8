"""The navigation rail: every page with its icon, label and shortcut; icons only when the
window is narrow; the keyboard's place shown; the icons bundled with their licence."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.core.resources import resource_path
from app.ui import icons, theme
from app.ui.main_window import COMPACT_BELOW
from app.ui.rail import COMPACT_WIDTH, PAGE_ICONS, WIDE_WIDTH, NavigationRail
from tests.gui.test_desktop_manners import open_window


def test_the_rail_lists_every_page_with_its_shortcut(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    rail = window.nav
    assert rail.names() == list(window.PAGES)
    for number, name in enumerate(window.PAGES, 1):
        item = rail.item(number - 1)
        assert item.toolTip() == f"{name} (Ctrl+{number})"
        assert not item.icon().isNull()
    assert rail.accessibleName() == "Pages"
    rail.setCurrentRow(window.PAGES.index("Models"))
    assert window.pages.currentWidget() is window.models_page


def test_a_new_page_needs_no_code_in_the_rail(qtbot: QtBot) -> None:
    rail = NavigationRail()
    qtbot.addWidget(rail)
    for name in ("Chat", "Documents", "Classify", "Models", "Something new"):
        rail.add_page(name)
    assert rail.names() == ["Chat", "Documents", "Classify", "Models", "Something new"]
    assert "Documents" in PAGE_ICONS
    assert all(not rail.item(row).icon().isNull() for row in range(rail.count()))


def test_a_narrow_window_shows_icons_only(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    window.resize(COMPACT_BELOW + 200, 700)
    qtbot.waitUntil(lambda: not window.nav.compact)
    assert window.nav.width() == WIDE_WIDTH
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.nav.compact)
    assert window.nav.width() == COMPACT_WIDTH
    # Still named and reachable: the label is in the tooltip and the accessible text.
    assert window.nav.item(0).toolTip().startswith("Chat")


def test_the_keyboard_focus_on_the_rail_is_drawn(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    rail = window.nav
    rail.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is rail)
    assert rail.keyboard_focus
    focused = rail.grab().toImage()
    rail.clearFocus()
    qtbot.waitUntil(lambda: not rail.keyboard_focus)
    plain = rail.grab().toImage()
    assert focused != plain, "the focused entry is ringed"
    focus = QColor(theme.colors().focus)
    hits = sum(
        1
        for y in range(0, focused.height(), 2)
        for x in range(0, focused.width(), 2)
        if focused.pixelColor(x, y) == focus
    )
    assert hits > 20, "the ring is drawn in the theme's focus colour"
    # A click needs no ring.
    rail.setFocus(Qt.FocusReason.MouseFocusReason)
    assert not rail.keyboard_focus
    # The window's own ring leaves the rail to draw its entry's.
    assert window.focus_ring.target is None


def test_icons_are_tinted_to_the_scheme_and_crisp_at_any_size(qtbot: QtBot) -> None:
    installed = theme.installed()
    assert installed is not None
    copy = icons.icon("copy")

    def darkest(size: int, scheme: str) -> tuple[int, QColor]:
        installed.apply(scheme)
        image = copy.pixmap(QSize(size, size)).toImage()
        assert image.width() == size, "drawn at the size asked, not scaled from another"
        opaque = [
            image.pixelColor(x, y)
            for y in range(size)
            for x in range(size)
            if image.pixelColor(x, y).alpha() == 255
        ]
        return len(opaque), opaque[0] if opaque else QColor()

    before = installed.scheme
    try:
        small, light_colour = darkest(16, "light")
        big, _ = darkest(96, "light")
        assert small > 0 and big > small * 20, "a big icon is drawn big, with solid strokes"
        assert light_colour == QColor(theme.LIGHT.text)
        _, dark_colour = darkest(32, "dark")
        assert dark_colour == QColor(theme.DARK.text)
        disabled = copy.pixmap(QSize(32, 32), QIcon.Mode.Disabled).toImage()
        seen = {
            disabled.pixelColor(x, y).name()
            for y in range(32)
            for x in range(32)
            if disabled.pixelColor(x, y).alpha() == 255
        }
        assert seen == {theme.DARK.disabled}
    finally:
        installed.apply(before)
        installed.forced = None


def test_the_icons_ship_with_their_licence() -> None:
    folder = resource_path("icons", icons.ICON_SET)
    assert "ISC License" in (folder / "LICENSE").read_text(encoding="utf-8")
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "lucide-static" in readme and "1.87.0" in readme
    for name in PAGE_ICONS.values():
        assert (folder / f"{name}.svg").is_file(), name
    for svg in folder.glob("*.svg"):
        assert svg.name in readme, f"{svg.name} is not listed in the README"
