"""The Help menu's contents: the keyboard shortcuts list and the About box.

:func:`shortcuts` is the one list of keys the window answers to. The Help dialog shows
it, and a test checks every key marked ``bound`` against the shortcuts and actions the
window really has, so the list cannot quietly go stale.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME, __version__
from app.ui.welcome import app_icon

SHORTCUTS_KEY = QKeySequence.StandardKey.HelpContents  # F1 on Linux and Windows


@dataclass(frozen=True)
class Shortcut:
    keys: str
    """In QKeySequence's portable form ("Ctrl+N"); shown in the platform's own notation."""
    action: str
    where: str
    bound: bool = True
    """A QShortcut or QAction carries it (False: a widget's key handling or Qt's own)."""


def shortcuts(pages: Sequence[str]) -> list[Shortcut]:
    """Every key the window answers to, for the pages it has (in their order)."""
    keys = [Shortcut(f"Ctrl+{n}", f"Go to {name}", "Everywhere") for n, name in enumerate(pages, 1)]
    keys += [
        Shortcut(QKeySequence(SHORTCUTS_KEY).toString(), "Show this list", "Everywhere"),
        Shortcut("Ctrl+Q", "Quit", "Everywhere"),
        Shortcut("Tab", "Next control (Shift+Tab: the one before)", "Everywhere", False),
        Shortcut("Alt", "Hold to see underlined letters; Alt+letter presses", "Everywhere", False),
        Shortcut("Ctrl+N", "New conversation", "Chat"),
        Shortcut("Ctrl+F", "Search the conversations", "Chat"),
        Shortcut("Return", "Send the message", "Chat, message box", False),
        Shortcut("Shift+Return", "New line in the message", "Chat, message box", False),
        Shortcut("Esc", "Stop the reply; cancel an edit when the box is empty", "Chat"),
        Shortcut("Ctrl+Shift+R", "Answer the last message again", "Chat"),
        Shortcut("F2", "Rename the selected conversation", "Chat, conversation list", False),
    ]
    return keys


class ShortcutsDialog(QDialog):
    """The shortcuts as a read-only table: keys, what they do, where."""

    def __init__(self, pages: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        items = shortcuts(pages)
        self.table = QTableWidget(len(items), 3)
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Keys", "Does", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        native = QKeySequence.SequenceFormat.NativeText
        for row, item in enumerate(items):
            for column, text in enumerate(
                (QKeySequence(item.keys).toString(native) or item.keys, item.action, item.where)
            ):
                self.table.setItem(row, column, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 440)


def about_text(data_folder: Path, log_file: Path | None) -> str:
    try:
        llama = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:  # a packaged build drops the metadata
        llama = "bundled"
    log_line = f"<br>Log file: {log_file}" if log_file else ""
    return (
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>A private desktop assistant for small language models. Models run on this "
        "computer; nothing you type leaves it.</p>"
        f"<p>Data folder: {data_folder}{log_line}</p>"
        f"<p>llama-cpp-python {llama} · Qt for Python {pyside_version}<br>"
        "Licence: Apache-2.0</p>"
    )


def show_about(parent: QWidget, data_folder: Path, log_file: Path | None) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle(f"About {APP_NAME}")
    box.setIconPixmap(app_icon().pixmap(64, 64))
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text(data_folder, log_file))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
