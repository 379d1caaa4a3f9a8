"""The fonts the pictures need are on this machine, or the test names the one to install.

The confusion matrix (window and ``driftless eval --matrix``) draws label names as they
are, in any script; with no installed font covering a script Qt draws empty boxes, which
the picture tests can only report as "not drawn". This says what is missing instead.
"""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics
from PySide6.QtWidgets import QApplication

from tests.test_dist import PACKAGING, dist

# What tests/gui/classify/test_matrix.py draws, by script, and the package for each:
# Debian/Ubuntu (system-deps.sh installs it), then Fedora, Arch and openSUSE.
SCRIPTS = {
    "Latin with accents (négatif, Überweisung)": (
        "éÜ",
        "fonts-dejavu-core (Fedora: dejavu-sans-fonts; Arch: ttf-dejavu; openSUSE: dejavu-fonts)",
    ),
    "Chinese (退款, 退货)": (
        "退款货",
        "fonts-wqy-microhei (Fedora: google-noto-sans-cjk-fonts; Arch: noto-fonts-cjk; "
        "openSUSE: noto-sans-cjk-fonts)",
    ),
}


def uncovered(characters: str) -> list[str]:
    """The characters no installed font family has a glyph for."""
    families = QFontDatabase.families()
    metrics = [QFontMetrics(QFont(family)) for family in families]
    return [c for c in characters if not any(m.inFontUcs4(ord(c)) for m in metrics)]


def missing_fonts() -> str:
    """A sentence per script no installed font draws, naming the package to install."""
    return " ".join(
        f"No installed font draws {script}: {', '.join(gaps)} would be empty boxes. "
        f"Install {package}; sh packaging/system-deps.sh does on Debian/Ubuntu."
        for script, (characters, package) in SCRIPTS.items()
        if (gaps := uncovered(characters))
    )


def test_an_installed_font_draws_every_script_the_matrix_draws(qapp: QApplication) -> None:
    assert missing_fonts() == ""


def test_a_missing_script_is_named_with_its_package(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a bare machine (no font families at all) every script is named."""
    monkeypatch.setattr(QFontDatabase, "families", staticmethod(lambda *args: []))
    said = missing_fonts()
    assert "No installed font draws Chinese (退款, 退货): 退, 款, 货 would be empty boxes. " in said
    assert "Install fonts-wqy-microhei (Fedora: google-noto-sans-cjk-fonts;" in said
    assert "Install fonts-dejavu-core" in said


def test_the_fonts_are_installed_by_set_up_and_recommended_by_the_deb() -> None:
    script = (PACKAGING / "system-deps.sh").read_text()
    debian_list = re.search(r'^DEBIAN="([^"]*)"', script, re.M)
    assert debian_list is not None
    for _characters, package in SCRIPTS.values():
        debian = package.split()[0]
        assert debian in debian_list.group(1).split(), debian
        assert any(debian in alternative for alternative in dist.RECOMMENDS), debian
    for other in ("google-noto-sans-cjk-fonts", "noto-fonts-cjk", "noto-sans-cjk-fonts"):
        assert other in script, f"system-deps.sh names {other} for its distribution"
