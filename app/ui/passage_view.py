"""A passage in its file, its span highlighted: opened from a search hit or a chat source.

The file is read again (off the GUI thread) with the same reader that indexed it, so
the passage's recorded span (page, start, end) is found in the same text. If the file
is gone or changed so that the span no longer holds the passage, the passage as it was
indexed is shown instead, and the dialog says why.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from PySide6.QtCore import Slot
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.docs.readers import MAX_FILE_BYTES, read_document
from app.ui.colors import is_dark
from app.ui.desktop import open_folder
from app.ui.tasks import Task

_WORD = re.compile(r"\w+", re.UNICODE)


def mark_colors() -> tuple[str, str]:
    """Background and text of a highlighted span, readable in light and dark schemes."""
    return ("#5c4a00", "#fff2c2") if is_dark() else ("#ffe88a", "#2b2100")


def highlight_words(text: str, words: Iterable[str]) -> str:
    """``text`` as escaped HTML with each of ``words`` (whole words, any case) marked."""
    wanted = {w.lower() for w in words if w}
    background, foreground = mark_colors()
    parts: list[str] = []
    last = 0
    for match in _WORD.finditer(text):
        if match.group().lower() in wanted:
            parts.append(html.escape(text[last : match.start()]))
            parts.append(
                f'<span style="background-color:{background}; color:{foreground}">'
                f"<b>{html.escape(match.group())}</b></span>"
            )
            last = match.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)


@dataclass(frozen=True)
class PassageRef:
    """Where a passage is: its file, page (PDF) or line, its span, and its text as indexed."""

    source: str
    page: int | None
    line: int | None
    start: int
    end: int
    text: str

    @property
    def where(self) -> str:
        place = f"page {self.page}" if self.page is not None else f"line {self.line}"
        return f"{PurePath(self.source).name}, {place}"


@dataclass(frozen=True)
class PassageInFile:
    """The text around a passage (its page, or the whole file) and the span in it."""

    text: str
    start: int
    end: int
    problem: str = ""


def locate(ref: PassageRef) -> PassageInFile:
    """Read ``ref``'s file again and find the passage's span (a worker's call)."""
    path = Path(ref.source)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        document = read_document(path, data)
    except Exception as exc:  # any failure falls back to the indexed text
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return PassageInFile(
            ref.text,
            0,
            len(ref.text),
            f"The file could not be read again ({reason}): this is the passage as it was indexed.",
        )
    page = next((p for p in document.pages if p.number == ref.page), document.pages[0])
    if page.text[ref.start : ref.end] == ref.text:
        return PassageInFile(page.text, ref.start, ref.end)
    found = page.text.find(ref.text)
    if found >= 0:
        return PassageInFile(page.text, found, found + len(ref.text))
    return PassageInFile(
        ref.text,
        0,
        len(ref.text),
        "The file changed since it was indexed: this is the passage as it was then. "
        "Refresh the collection to index it again.",
    )


class PassageDialog(QDialog):
    """The passage's file with the span highlighted and scrolled into view."""

    def __init__(self, ref: PassageRef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ref = ref
        self.setWindowTitle(ref.where)
        self.resize(720, 520)
        self.path_label = QLabel(html.escape(ref.source))
        self.path_label.setWordWrap(True)
        self.note = QLabel("Reading the file…")
        self.note.setWordWrap(True)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setAccessibleName("Passage in its file")
        self.view.setPlainText(ref.text)
        self.open_button = QPushButton("&Open the file")
        self.open_button.setToolTip("Open the file in the program your system uses for it")
        self.open_button.clicked.connect(self._on_open_clicked)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.path_label)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self.shown: PassageInFile | None = None
        self.task = Task(lambda _task: locate(ref), self)
        self.task.succeeded.connect(self._on_task_succeeded)
        self.task.failed.connect(self.note.setText)
        self.task.start()

    @Slot(object)
    def _on_task_succeeded(self, found: PassageInFile) -> None:
        self.shown = found
        self.note.setText(found.problem or f"The passage is highlighted ({self.ref.where}).")
        self.view.setPlainText(found.text)
        background, foreground = mark_colors()
        cursor = QTextCursor(self.view.document())
        cursor.setPosition(found.start)
        cursor.setPosition(found.end, QTextCursor.MoveMode.KeepAnchor)
        mark = QTextEdit.ExtraSelection()
        mark.cursor = cursor
        char_format = QTextCharFormat()
        char_format.setBackground(QColor(background))
        char_format.setForeground(QColor(foreground))
        mark.format = char_format
        self.view.setExtraSelections([mark])
        # Scroll so the span's end, then its start, is in view: the start stays on screen.
        end = QTextCursor(self.view.document())
        end.setPosition(found.end)
        self.view.setTextCursor(end)
        self.view.ensureCursorVisible()
        start = QTextCursor(self.view.document())
        start.setPosition(found.start)
        self.view.setTextCursor(start)
        self.view.ensureCursorVisible()

    @property
    def highlighted(self) -> str:
        """The text highlighted now (what a test checks)."""
        if self.shown is None:
            return ""
        return self.shown.text[self.shown.start : self.shown.end]

    @Slot()
    def _on_open_clicked(self) -> None:
        if not open_folder(Path(self.ref.source)):  # the system's opener works on files too
            self.note.setText(f"No program could open {self.ref.source}.")
