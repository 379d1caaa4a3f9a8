"""The conversation view: one bubble per message, Markdown rendered, the reply streaming.

Model output is rendered as Markdown *without* HTML: a reply that says ``Use a <div>``
or thinks aloud in ``<think>`` tags shows those words, it is never interpreted as markup.
A message that Regenerate or Edit gave alternatives carries a ``‹ 2/3 ›`` switcher.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.records import Message
from app.core.docs.answering import PROVENANCE_KEY
from app.ui.passage_view import PassageRef, mark_colors

ROLE_NAMES = {"user": "You", "assistant": "Model", "system": "System"}
STATUS_NOTES = {
    "incomplete": "interrupted: the app closed while this reply was being written",
    "cancelled": "stopped",
    "error": "failed",
}

_MARKDOWN = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)


def passage_refs(params: Mapping[str, object] | None) -> list[tuple[int, PassageRef]]:
    """The numbered passages a reply was given (its Sources), from its saved parameters."""
    record = (params or {}).get(PROVENANCE_KEY)
    passages = record.get("passages") if isinstance(record, Mapping) else None
    refs: list[tuple[int, PassageRef]] = []
    for number, item in enumerate(passages if isinstance(passages, list) else [], 1):
        try:
            page, line = item.get("page"), item.get("line")
            refs.append(
                (
                    int(item.get("number", number)),
                    PassageRef(
                        source=str(item["source"]),
                        page=None if page is None else int(page),
                        line=None if line is None else int(line),
                        start=int(item["start"]),
                        end=int(item["end"]),
                        text=str(item.get("text", "")),
                    ),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            continue  # a record this version does not understand: leave that source out
    return refs


READING_CHARACTERS = 96
"""The reading column's widest line, in average characters: wide windows get margins."""


def short_model_id(lock_id: str) -> str:
    """``repo@commit/dir/name.gguf`` -> ``name``: enough to tell models apart at a glance."""
    name = lock_id.rsplit("/", 1)[-1]
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def provenance_text(lock_id: str, sha256: str | None, params: Mapping[str, object] | None) -> str:
    """A reply's full provenance, for its tooltip."""
    lines = [f"Written by {lock_id}"]
    if sha256:
        lines.append(f"sha256 {sha256}")
    extras = ("template_fallback", PROVENANCE_KEY)
    settings = {k: v for k, v in (params or {}).items() if k not in extras and v}
    if settings:
        lines.append("Sampling: " + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())))
    fallback = (params or {}).get("template_fallback")
    if fallback:
        lines.append(str(fallback))
    record = (params or {}).get(PROVENANCE_KEY)
    if isinstance(record, Mapping):
        for c in record.get("collections") or []:
            if isinstance(c, Mapping):
                lines.append(
                    f"Answered from {c.get('name')} (version {c.get('version')}, "
                    f"updated {c.get('updated_at')}, embedded by {c.get('embedder')})"
                )
    return "\n".join(lines)


def markdown_to_html(markdown: str, marked: Sequence[str] = ()) -> str:
    """Markdown as rich text, with any HTML in it escaped: shown as written, never run.

    Each of the ``marked`` words (a search's) is shown wherever it occurs, in any case,
    in the colours a found passage has (:func:`~app.ui.passage_view.mark_colors`).
    """
    document = QTextDocument()
    document.setMarkdown(markdown, _MARKDOWN)
    if marked:
        background, foreground = mark_colors()
        mark = QTextCharFormat()
        mark.setBackground(QColor(background))
        mark.setForeground(QColor(foreground))
        for word in marked:
            cursor = document.find(word)
            while not cursor.isNull():
                cursor.mergeCharFormat(mark)
                cursor = document.find(word, cursor)
    return document.toHtml()


def mentions(text: str, words: Sequence[str]) -> bool:
    """Whether ``text`` holds any of ``words``, in any case."""
    folded = text.casefold()
    return any(word.casefold() in folded for word in words)


COPIED_MS = 1500
"""How long a Copy button says "Copied" after a click."""


class MutedLabel(QLabel):
    """Secondary text (which model, a status note): the window text, lighter, in either scheme.

    The colour lives in the palette, re-picked when the application's palette changes: a
    style sheet would keep the colour of the scheme the window started in.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._recoloring = False
        self._recolor()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not self._recoloring:
            self._recolor()

    def _recolor(self) -> None:
        self._recoloring = True
        palette = QPalette(QGuiApplication.palette())
        color = QColor(palette.color(QPalette.ColorRole.WindowText))
        color.setAlphaF(0.62)  # about 4.5:1 on Fusion's window colour, light or dark
        palette.setColor(QPalette.ColorRole.WindowText, color)
        self.setPalette(palette)
        self._recoloring = False


class MessageBubble(QFrame):
    """One message: who, what (Markdown), and its actions."""

    copy_requested = Signal(str)
    edit_requested = Signal(int)
    branch_requested = Signal(int)  # the id of the sibling to show instead
    source_requested = Signal(object)  # a PassageRef: one of the reply's sources, to open

    def __init__(
        self,
        role: str,
        message_id: int | None,
        parent: QWidget | None = None,
        *,
        streaming: bool = False,
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self._markdown = ""
        self.marked: tuple[str, ...] = ()
        """The search's words, highlighted in the text."""
        self.sibling_ids: tuple[int, ...] = ()
        # While a reply streams, its text grows in a plain-text view that lays out only
        # what was appended; re-rendering Markdown on every batch costs time that grows
        # with the reply and would freeze the window. The saved reply is shown as Markdown.
        self.live: QTextEdit | None = None
        self.setObjectName(f"bubble-{role}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setProperty("role", role)
        self.header = QLabel(f"<b>{ROLE_NAMES.get(role, role)}</b>")
        self.model_label = MutedLabel()
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label.setAccessibleName("Written by")
        self.model_label.hide()
        self.note = MutedLabel()
        self.body = QLabel()
        self.body.setTextFormat(Qt.TextFormat.RichText)  # from markdown_to_html, HTML escaped
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.body.setOpenExternalLinks(False)  # a chat must not open the browser by itself
        self.body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.body.setAccessibleName(f"{ROLE_NAMES.get(role, role)} message")
        # The passages a reply answered from, each a link that opens it in its file.
        self.sources = QLabel()
        self.sources.setTextFormat(Qt.TextFormat.RichText)
        self.sources.setWordWrap(True)
        self.sources.setAccessibleName("Sources")
        self.sources.setOpenExternalLinks(False)
        self.sources.linkActivated.connect(self._on_sources_link_activated)
        self.sources.hide()
        self.source_refs: list[tuple[int, PassageRef]] = []
        self.copy_button = QPushButton("Copy")
        self.copy_button.setFlat(True)
        self.copy_button.setToolTip("Copy this message's text")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setFlat(True)
        self.edit_button.setToolTip("Edit this message and continue from it")
        self.edit_button.setVisible(role == "user" and message_id is not None)
        self.edit_button.clicked.connect(self._on_edit_clicked)
        self.previous_button = QToolButton()
        self.previous_button.setText("‹")
        self.previous_button.setAccessibleName("Previous version")
        self.previous_button.setToolTip("Show the previous version of this message")
        self.previous_button.clicked.connect(lambda: self._on_branch_step(-1))
        self.branch_label = QLabel()
        self.branch_label.setAccessibleName("Version")
        self.next_button = QToolButton()
        self.next_button.setText("›")
        self.next_button.setAccessibleName("Next version")
        self.next_button.setToolTip("Show the next version of this message")
        self.next_button.clicked.connect(lambda: self._on_branch_step(1))
        for widget in (self.previous_button, self.branch_label, self.next_button):
            widget.hide()

        if streaming:
            self.live = QTextEdit()
            self.live.setReadOnly(True)
            self.live.setFrameShape(QFrame.Shape.NoFrame)
            self.live.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.live.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.live.setAccessibleName("Reply being written")
            self.live.viewport().setAutoFillBackground(False)
            # No document margin, like the label that takes its place when the reply ends:
            # the text must not move then.
            self.live.document().setDocumentMargin(0)
            self.live.setContentsMargins(0, 0, 0, 0)
            self.live.setViewportMargins(0, 0, 0, 0)
            self.live.document().documentLayout().documentSizeChanged.connect(self._fit_live)
            self.live.setFixedHeight(self.fontMetrics().height())
            self.body.hide()

        top = QHBoxLayout()
        top.addWidget(self.header)
        top.addWidget(self.model_label)
        top.addWidget(self.previous_button)
        top.addWidget(self.branch_label)
        top.addWidget(self.next_button)
        top.addWidget(self.note, 1)
        top.addWidget(self.edit_button)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.addLayout(top)
        layout.addWidget(self.body)
        if self.live is not None:
            layout.addWidget(self.live)
        layout.addWidget(self.sources)

    def focus_widgets(self) -> list[QWidget]:
        """The controls Tab stops at, in order (hidden ones included: they may show)."""
        widgets: list[QWidget] = [
            self.previous_button,
            self.next_button,
            self.edit_button,
            self.copy_button,
        ]
        if self.live is not None:
            widgets.append(self.live)
        return widgets

    def _fit_live(self) -> None:
        if self.live is not None:
            # Exactly the text's height: the label that follows it is as tall, no jump.
            self.live.setFixedHeight(math.ceil(self.live.document().size().height()))

    def _on_copy_clicked(self) -> None:
        self.copy_requested.emit(self._markdown)
        # Say it worked where the person is looking; the label comes back after a moment.
        self.copy_button.setText("Copied")
        QTimer.singleShot(COPIED_MS, self._on_copied_shown)

    def _on_copied_shown(self) -> None:
        self.copy_button.setText("Copy")

    def _on_edit_clicked(self) -> None:
        if self.message_id is not None:
            self.edit_requested.emit(self.message_id)

    def set_model(
        self,
        lock_id: str | None,
        sha256: str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        """Say which model wrote this reply (short id; the full provenance in the tooltip)."""
        if not lock_id:
            self.model_label.hide()
            return
        self.model_label.setText(short_model_id(lock_id))
        self.model_label.setToolTip(provenance_text(lock_id, sha256, params))
        self.model_label.show()

    def set_sources(self, params: Mapping[str, object] | None) -> None:
        """List the passages the reply was given, under it; each opens its passage."""
        self.source_refs = passage_refs(params)
        if not self.source_refs:
            self.sources.hide()
            return
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", self._markdown)}
        lines = []
        for index, (number, ref) in enumerate(self.source_refs):
            link = f'<a href="source:{index}">{html.escape(ref.where)}</a>'
            # The passages the reply cites stand out from the others it was given.
            lines.append(
                f"<b>[{number}] {link} · cited</b>" if number in cited else f"[{number}] {link}"
            )
        self.sources.setText("<b>Sources</b><br>" + "<br>".join(lines))
        self.sources.setToolTip("Click a source to see the passage in its file")
        self.sources.show()

    def _on_sources_link_activated(self, link: str) -> None:
        _, _, index = link.partition(":")
        if index.isdigit() and int(index) < len(self.source_refs):
            self.source_requested.emit(self.source_refs[int(index)][1])

    def set_siblings(self, sibling_ids: Sequence[int]) -> None:
        """Show ``‹ i/n ›`` when this message has alternatives (its own id among them)."""
        self.sibling_ids = tuple(sibling_ids)
        shown = len(self.sibling_ids) > 1 and self.message_id in self.sibling_ids
        for widget in (self.previous_button, self.branch_label, self.next_button):
            widget.setVisible(shown)
        if not shown:
            return
        position = self.sibling_ids.index(self.message_id)
        count = len(self.sibling_ids)
        self.branch_label.setText(f"{position + 1}/{count}")
        self.branch_label.setToolTip(f"Version {position + 1} of {count}")
        self.previous_button.setEnabled(position > 0)
        self.next_button.setEnabled(position < count - 1)

    def _on_branch_step(self, step: int) -> None:
        if self.message_id not in self.sibling_ids:
            return
        target = self.sibling_ids.index(self.message_id) + step
        if 0 <= target < len(self.sibling_ids):
            self.branch_requested.emit(self.sibling_ids[target])

    @property
    def text(self) -> str:
        return self._markdown

    def set_text(self, markdown: str) -> None:
        self._markdown = markdown
        shown = self.marked if mentions(markdown, self.marked) else ()
        self.body.setText(markdown_to_html(markdown, shown))

    def set_marked(self, words: Sequence[str]) -> None:
        """Highlight ``words`` (a search's) in the text; () clears the highlight."""
        words = tuple(words)
        if words == self.marked:
            return
        before, self.marked = self.marked, words
        # Only a text that holds the words, or held a highlight, needs rendering again.
        if self.live is None and mentions(self._markdown, before + words):
            self.set_text(self._markdown)

    def append_text(self, piece: str) -> None:
        if self.live is None:
            self.set_text(self._markdown + piece)
            return
        self._markdown += piece
        cursor = self.live.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece)

    def set_note(self, text: str) -> None:
        # Error texts can quote model output: escaped, so they are shown as written.
        self.note.setText(f"<i>{html.escape(text)}</i>" if text else "")


class TranscriptView(QScrollArea):
    """The messages of the current thread, newest at the bottom, kept in view while streaming."""

    edit_requested = Signal(int)
    branch_requested = Signal(int)
    source_requested = Signal(object)  # a PassageRef

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setAccessibleName("Conversation")
        self._content = QWidget()
        # A comfortable reading column: on a wide window the lines stop growing, centred.
        self._content.setMaximumWidth(self.fontMetrics().averageCharWidth() * READING_CHARACTERS)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._layout = QVBoxLayout(self._content)
        self._layout.setSpacing(8)
        # The messages' height is their height for the column's width (the scroll area asks
        # the layout), not the sum of their minimums, which assume a narrow column and left
        # a scroll bar and a blank gap under a few short messages.
        self._layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetNoConstraint)
        self._content.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self.bubbles: list[MessageBubble] = []
        self.streaming: MessageBubble | None = None
        self.marked: tuple[str, ...] = ()
        """The search's words, highlighted in every message that holds them."""
        self._stick_to_bottom = True
        self._held: tuple[int, int] | None = None
        """A message switched to and the height in the view its switcher must stay at."""
        self._placing = False
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.empty_label = QLabel(
            "Start a conversation: type below and press Enter. Everything stays on this machine."
        )
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self._layout.insertWidget(0, self.empty_label)

    def clear(self) -> None:
        for bubble in self.bubbles:
            bubble.deleteLater()
        self.bubbles.clear()
        self.streaming = None
        self.empty_label.show()

    def set_messages(
        self,
        messages: list[Message],
        siblings: Mapping[int, Sequence[int]] | None = None,
        *,
        scroll_to_bottom: bool = True,
    ) -> None:
        """Show ``messages``; ``siblings`` (from ``branch_siblings``) adds the switchers."""
        self.clear()
        for message in messages:
            if message.role == "system":
                continue
            bubble = self._add(message.role, message.id)
            bubble.set_text(message.content)
            note = STATUS_NOTES.get(message.status, "")
            if message.status == "error" and message.error:
                note = f"failed: {message.error}"
            bubble.set_note(note)
            if message.role == "assistant":
                bubble.set_model(message.model_lock_id, message.model_sha256, message.params)
                bubble.set_sources(message.params)
        self.set_siblings(siblings or {})
        if scroll_to_bottom:
            self._held = None
            self._stick_to_bottom = True
            QTimer.singleShot(0, self.scroll_to_bottom)
        elif self._held is not None:
            QTimer.singleShot(0, self._lay_out_and_keep_held)

    def hold_switcher(self, message_id: int) -> None:
        """Before ``message_id`` (a sibling of a message shown) replaces it: keep its ‹ ›
        switcher where the shown one is now, so the click is not followed by a jump."""
        shown = next((b for b in self.bubbles if message_id in b.sibling_ids), None)
        if shown is None:
            return
        self._held = (message_id, shown.mapTo(self.viewport(), QPoint(0, 0)).y())
        self._stick_to_bottom = False

    def drop_hold(self) -> None:
        """The switch did not happen: scroll as before."""
        self._held = None
        self._on_scrolled(self.verticalScrollBar().value())

    def _lay_out_and_keep_held(self) -> None:
        # The new messages are measured where they will be, not where they were made.
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        self._keep_held()

    def _keep_held(self) -> None:
        """Scroll so the held message's top is where its predecessor's was."""
        if self._held is None:
            return
        message_id, y = self._held
        bubble = self.bubble_for(message_id)
        if bubble is None:
            return
        bar = self.verticalScrollBar()
        self._placing = True  # this scroll is ours, not the person's
        try:
            bar.setValue(bar.value() + bubble.mapTo(self.viewport(), QPoint(0, 0)).y() - y)
        finally:
            self._placing = False

    def set_marked(self, query: str) -> None:
        """Highlight the words of a search (``query``) in the messages; "" clears it."""
        self.marked = tuple(query.split())
        for bubble in self.bubbles:
            bubble.set_marked(self.marked)

    def set_siblings(self, siblings: Mapping[int, Sequence[int]]) -> None:
        for bubble in self.bubbles:
            if bubble.message_id is not None:
                bubble.set_siblings(siblings.get(bubble.message_id, ()))

    def bubble_for(self, message_id: int) -> MessageBubble | None:
        return next((b for b in self.bubbles if b.message_id == message_id), None)

    def begin_reply(self, lock_id: str | None = None, sha256: str | None = None) -> MessageBubble:
        self._held = None
        self.streaming = self._add("assistant", None, streaming=True)
        self.streaming.set_model(lock_id, sha256)
        self.streaming.set_note("reading…")
        self._stick_to_bottom = True
        return self.streaming

    def append_reply(self, piece: str) -> None:
        if self.streaming is None:
            self.begin_reply()
        assert self.streaming is not None
        if not self.streaming.text:
            self.streaming.set_note("")
        self.streaming.append_text(piece)

    def finish_reply(self, message: Message) -> None:
        """Turn the streaming bubble into the saved reply, in place (no rebuild)."""
        bubble = self.streaming
        if bubble is None:
            return
        self.streaming = None
        bubble.message_id = message.id
        if bubble.live is not None:
            bubble.live.hide()  # deleted later: until then it must not show the text twice
            bubble.live.deleteLater()
            bubble.live = None
        bubble.body.show()
        bubble.set_text(message.content)
        note = STATUS_NOTES.get(message.status, "")
        if message.status == "error" and message.error:
            note = f"failed: {message.error}"
        bubble.set_note(note)
        bubble.set_model(message.model_lock_id, message.model_sha256, message.params)
        bubble.set_sources(message.params)

    def _add(self, role: str, message_id: int | None, streaming: bool = False) -> MessageBubble:
        self.empty_label.hide()
        bubble = MessageBubble(role, message_id, self._content, streaming=streaming)
        bubble.marked = self.marked
        bubble.copy_requested.connect(self._on_bubble_copy_requested)
        bubble.edit_requested.connect(self.edit_requested)
        bubble.branch_requested.connect(self.branch_requested)
        bubble.source_requested.connect(self.source_requested)
        self._layout.insertWidget(self._layout.count() - 1, bubble)
        # A new widget joins the end of the window's tab chain; Tab should reach a
        # message's buttons right after the messages before it, not after the send button.
        previous = self.bubbles[-1].focus_widgets()[-1] if self.bubbles else self
        for widget in bubble.focus_widgets():
            QWidget.setTabOrder(previous, widget)
            previous = widget
        self.bubbles.append(bubble)
        return bubble

    def _on_bubble_copy_requested(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        if self._held is not None and not self._placing:
            self._held = None  # scrolled by the person: the switcher is theirs to place
        self._stick_to_bottom = self._held is None and value >= bar.maximum() - 4

    def _on_range_changed(self, _low: int, _high: int) -> None:
        if self._held is not None:
            self._keep_held()  # the new version laid out: its switcher back in place
        elif self._stick_to_bottom:
            self.scroll_to_bottom()

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
