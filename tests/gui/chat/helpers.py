"""What the chat tests do again and again: send a message and wait, read the transcript."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.ui.chat.page import ChatPage


def send(qtbot: QtBot, page: ChatPage, text: str) -> None:
    page.composer.setPlainText(text)
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        qtbot.keyClick(page.composer, Qt.Key.Key_Return)


def texts(page: ChatPage) -> list[tuple[str, str]]:
    return [(b.role, b.text) for b in page.transcript.bubbles]
