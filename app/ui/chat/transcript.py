"""The conversation view: messages as a conversation, Markdown rendered, the reply streaming.

The person's messages sit on the right in a tint of the accent; the model's on the left,
under the name of the model that wrote them. The column stops growing at a readable
width. Each message's actions (Copy, Edit, ‹ 2/3 › between versions, Regenerate, and
Continue for a reply cut at its token limit) sit with it and show when the pointer is
over it or the keyboard is in it; they stay in the Tab order all the time. Code blocks
are drawn in monospace with a Copy button of their own.

Model output is rendered as Markdown *without* HTML: a reply that says ``Use a <div>``
or thinks aloud in ``<think>`` tags shows those words, it is never interpreted as markup.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QEnterEvent,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.export import finish_of
from app.core.chat.records import Message
from app.core.docs.answering import PROVENANCE_KEY
from app.ui import states, theme
from app.ui.copy_button import flash_copied
from app.ui.icons import icon
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


READING_CHARACTERS = 92
"""The reading column's widest line, in average characters: wide windows get margins."""
USER_SHARE = 0.8
"""The person's messages take at most this share of the column, on its right."""

EXAMPLE_PROMPTS = (
    "Write a haiku about the sea",
    "Give me three names for a grey cat",
    "Explain in two sentences what a CSV file is",
)
"""The empty conversation's suggestions: short tasks even the 135M starter does well."""

_FENCE = re.compile(
    r"^(?P<fence>```|~~~)(?P<lang>[^\n`]*)\n(?P<code>.*?)(?:\n(?P=fence)[ \t]*$|\Z)", re.M | re.S
)


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


@dataclass(frozen=True)
class Segment:
    """A stretch of a message: prose (Markdown) or a fenced code block."""

    text: str
    code: bool = False
    language: str = ""


def split_code(markdown: str) -> list[Segment]:
    """``markdown`` as prose and fenced code blocks, in order (an unclosed fence runs to
    the end, as it does while a reply is being written)."""
    segments: list[Segment] = []
    at = 0
    for match in _FENCE.finditer(markdown):
        prose = markdown[at : match.start()].strip("\n")
        if prose.strip():
            segments.append(Segment(prose))
        segments.append(Segment(match.group("code"), True, match.group("lang").strip()))
        at = match.end()
    rest = markdown[at:].strip("\n")
    if rest.strip() or not segments:
        segments.append(Segment(rest))
    return segments


def note_for(message: Message) -> str:
    """The secondary line under a reply: how it ended, when that is worth saying."""
    if message.status == "error" and message.error:
        return f"failed: {message.error}"
    if finish_of(message) == "length":
        limit = (message.params or {}).get("max_tokens")
        return f"stopped at the {limit:,}-token limit"
    return STATUS_NOTES.get(message.status, "")


def mentions(text: str, words: Sequence[str]) -> bool:
    """Whether ``text`` holds any of ``words``, in any case."""
    folded = text.casefold()
    return any(word.casefold() in folded for word in words)


class MutedLabel(QLabel):
    """Secondary text (which model, a status note), in the theme's secondary style: it
    follows a switch between light and dark (:class:`app.ui.theme.SecondaryColor`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        theme.set_type(self, theme.Type.SECONDARY)


def _action(text: str, icon_name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setIcon(icon(icon_name))
    button.setIconSize(QSize(14, 14))
    button.setToolTip(tip)
    button.setAccessibleName(text)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    theme.set_quiet(button)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class CodeBlock(QFrame):
    """A fenced code block: monospace, scrolled sideways rather than wrapped, with Copy."""

    copy_requested = Signal(str)

    def __init__(self, code: str, language: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("code-block")
        self.code = code
        self.language_label = MutedLabel()
        self.language_label.setText(language or "code")
        self.copy_button = _action("Copy", "copy", "Copy this code")
        self.copy_button.setAccessibleName("Copy code")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.view = QPlainTextEdit(code)
        self.view.setReadOnly(True)
        self.view.setAccessibleName("Code")
        self.view.setFont(theme.font(theme.Type.MONO))
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setWordWrapMode(QTextOption.WrapMode.NoWrap)
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.view.viewport().setAutoFillBackground(False)
        self.view.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.language_label, 1)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(theme.S, theme.XS, theme.S, theme.S)
        layout.setSpacing(theme.XS)
        layout.addLayout(top)
        layout.addWidget(self.view)
        self._fit()

    def set_code(self, code: str) -> None:
        if code != self.code:
            self.code = code
            self.view.setPlainText(code)
            self._fit()

    def _fit(self) -> None:
        lines = max(1, self.code.count("\n") + 1)
        metrics = self.view.fontMetrics()
        bar = self.view.horizontalScrollBar().sizeHint().height()
        widest = max((metrics.horizontalAdvance(line) for line in self.code.split("\n")), default=0)
        scrolls = widest + 8 > self.view.viewport().width() > 0
        margin = 2 * round(self.view.document().documentMargin()) + 2
        self.view.setFixedHeight(lines * metrics.lineSpacing() + margin + (bar if scrolls else 0))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.colors().color("code"))
        painter.drawRoundedRect(self.rect(), theme.RADIUS, theme.RADIUS)
        painter.end()

    def _on_copy_clicked(self) -> None:
        self.copy_requested.emit(self.code)
        flash_copied(self.copy_button)


class _Reveal(QObject):
    """Shows a bubble's actions while the pointer is over it or the focus is in it."""

    def __init__(self, bubble: MessageBubble) -> None:
        super().__init__(bubble)
        self.bubble = bubble

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.FocusIn, QEvent.Type.FocusOut):
            QTimer.singleShot(0, self.bubble.update_reveal)
        return False


def _body_label(role: str) -> QLabel:
    body = QLabel()
    body.setTextFormat(Qt.TextFormat.RichText)  # from markdown_to_html, HTML escaped
    body.setWordWrap(True)
    body.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
        | Qt.TextInteractionFlag.LinksAccessibleByMouse
    )
    body.setOpenExternalLinks(False)  # a chat must not open the browser by itself
    body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    body.setAccessibleName(f"{ROLE_NAMES.get(role, role)} message")
    return body


class MessageBubble(QFrame):
    """One message: who wrote it, what (Markdown, code blocks apart), and its actions."""

    copy_requested = Signal(str)
    edit_requested = Signal(int)
    branch_requested = Signal(int)  # the id of the sibling to show instead
    source_requested = Signal(object)  # a PassageRef: one of the reply's sources, to open
    regenerate_requested = Signal()
    continue_requested = Signal()

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
        self.hovered = False
        self.row: QWidget | None = None
        """The line holding a message of the person's, on the right (set by the view)."""
        self.can_regenerate = False
        self.can_continue = False
        # While a reply streams, its text grows in a plain-text view that lays out only
        # what was appended; re-rendering Markdown on every batch costs time that grows
        # with the reply and would freeze the window. The saved reply is shown as Markdown.
        self.live: QTextEdit | None = None
        self.setObjectName(f"bubble-{role}")
        self.setProperty("role", role)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover)
        self.header = QLabel(ROLE_NAMES.get(role, role))
        theme.set_type(self.header, theme.Type.STRONG)
        self.header.setVisible(role != "user")  # the person's side needs no name
        self.model_label = MutedLabel()
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label.setAccessibleName("Written by")
        self.model_label.hide()
        self.note = MutedLabel()
        self.note.setWordWrap(True)
        # The passages a reply answered from, each a link that opens it in its file.
        self.sources = QLabel()
        self.sources.setTextFormat(Qt.TextFormat.RichText)
        self.sources.setWordWrap(True)
        self.sources.setAccessibleName("Sources")
        self.sources.setOpenExternalLinks(False)
        self.sources.linkActivated.connect(self._on_sources_link_activated)
        self.sources.hide()
        self.source_refs: list[tuple[int, PassageRef]] = []
        self.body = _body_label(role)
        self.segments: list[QWidget] = []
        """What follows the first stretch of prose: code blocks and the prose between."""
        self.copy_button = _action("Copy", "copy", "Copy this message's text")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.edit_button = _action("Edit", "pencil", "Edit this message and continue from it")
        self.edit_button.setVisible(role == "user" and message_id is not None)
        self.edit_button.clicked.connect(self._on_edit_clicked)
        self.regenerate_button = _action(
            "Regenerate", "refresh-cw", "Answer again (this reply is kept as a version)"
        )
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        self.regenerate_button.hide()
        self.continue_button = _action(
            "Continue", "step-forward", "Write more of this reply, from where it stopped"
        )
        self.continue_button.clicked.connect(self.continue_requested)
        self.continue_button.hide()
        self.previous_button = _action("", "chevron-left", "Show the previous version")
        self.previous_button.setAccessibleName("Previous version")
        self.previous_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.previous_button.clicked.connect(lambda: self._on_branch_step(-1))
        self.branch_label = MutedLabel()
        self.branch_label.setAccessibleName("Version")
        self.next_button = _action("", "chevron-right", "Show the next version")
        self.next_button.setAccessibleName("Next version")
        self.next_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
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
        top.setSpacing(theme.S)
        top.addWidget(self.header)
        top.addWidget(self.model_label)
        self.switcher = QHBoxLayout()
        self.switcher.setSpacing(0)
        for widget in (self.previous_button, self.branch_label, self.next_button):
            self.switcher.addWidget(widget)
        if role != "user":
            top.addLayout(self.switcher)
        top.addStretch(1)
        self.top = top
        notes = QHBoxLayout()
        notes.setSpacing(theme.XS)
        notes.addWidget(self.note, 1)
        if role == "user":
            notes.addLayout(self.switcher)  # always shown: which version this is
        actions = QHBoxLayout()
        actions.setSpacing(theme.XS)
        if role == "user":
            actions.addStretch(1)
        for button in (
            self.edit_button,
            self.copy_button,
            self.regenerate_button,
            self.continue_button,
        ):
            actions.addWidget(button)
        if role != "user":
            actions.addStretch(1)
        self._content = QVBoxLayout()
        self._content.setSpacing(theme.S)
        self._content.addWidget(self.body)
        if self.live is not None:
            self._content.addWidget(self.live)
        layout = QVBoxLayout(self)
        user = role == "user"
        layout.setContentsMargins(
            theme.M if user else 0,
            theme.S if user else 0,
            theme.M if user else 0,
            0 if user else theme.S,
        )
        layout.setSpacing(theme.XS)
        if not user:
            layout.addLayout(top)
        layout.addLayout(self._content)
        layout.addWidget(self.sources)
        layout.addLayout(notes)
        self.actions_row = QWidget()
        self.actions_row.setLayout(actions)
        actions.setContentsMargins(0, 0, 0, 0)
        if user:
            layout.addSpacing(theme.S)  # the tint's padding under the words
        layout.addWidget(self.actions_row)
        self._fade = QGraphicsOpacityEffect(self.actions_row)
        self.actions_row.setGraphicsEffect(self._fade)
        self._reveal = _Reveal(self)
        for control in self.focus_widgets():
            control.installEventFilter(self._reveal)
        self.update_reveal()
        self.note.setVisible(False)

    def focus_widgets(self) -> list[QWidget]:
        """The controls Tab stops at, in order (hidden ones included: they may show)."""
        widgets: list[QWidget] = [
            self.previous_button,
            self.next_button,
            self.edit_button,
            self.copy_button,
            self.regenerate_button,
            self.continue_button,
        ]
        widgets += [
            w
            for segment in self.segments
            if isinstance(segment, CodeBlock)
            for w in [segment.copy_button]
        ]
        if self.live is not None:
            widgets.append(self.live)
        return widgets

    # --- showing the actions on hover or focus --------------------------------------------

    def enterEvent(self, event: QEnterEvent) -> None:
        self.hovered = True
        self.update_reveal()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.hovered = False
        self.update_reveal()
        super().leaveEvent(event)

    def update_reveal(self) -> None:
        """Actions fully shown on hover or focus; otherwise only the switcher and the
        actions that say something (Continue) stay visible, the rest faint."""
        focus = self.window().focusWidget()
        inside = focus is not None and self.isAncestorOf(focus)
        shown = self.hovered or inside
        # A cut reply always offers Continue: it is news, not a tool.
        self._fade.setOpacity(1.0 if shown or self.can_continue else 0.0)
        self._fade.setEnabled(not (shown or self.can_continue))

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        if self.role != "user":
            return hint
        # As wide as the words need (the longest paragraph on one line), plus the margins.
        document = QTextDocument()
        document.setDefaultFont(self.body.font())
        document.setDocumentMargin(0)
        document.setHtml(self.body.text())
        margins = self.contentsMargins()
        layout = self.layout()
        inner = layout.contentsMargins() if layout is not None else margins
        words = math.ceil(document.idealWidth()) + inner.left() + inner.right() + 2
        widest = max([words, self.actions_row.sizeHint().width() + inner.left() + inner.right()])
        for segment in self.segments:
            widest = max(widest, segment.sizeHint().width() + inner.left() + inner.right())
        return QSize(min(widest, self.maximumWidth()), hint.height())

    # --- drawing ----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.role == "user":
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.colors().color("user_bubble"))
            radius = theme.RADIUS * 2
            # The tint holds the words; the actions sit under it.
            tint = self.rect()
            tint.setBottom(self.actions_row.geometry().top() - theme.XS)
            painter.drawRoundedRect(tint, radius, radius)
            painter.end()
        super().paintEvent(event)

    def _fit_live(self) -> None:
        if self.live is not None:
            # Exactly the text's height: the label that follows it is as tall, no jump.
            self.live.setFixedHeight(math.ceil(self.live.document().size().height()))

    # --- actions ----------------------------------------------------------------------

    def _on_copy_clicked(self) -> None:
        self.copy_requested.emit(self._markdown)
        flash_copied(self.copy_button)

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
            self.header.show()
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

    def set_last_reply(self, last: bool, *, cut: bool = False) -> None:
        """The last reply offers Regenerate, and Continue when it was cut at its limit."""
        self.can_regenerate = last and self.role == "assistant" and self.message_id is not None
        self.can_continue = self.can_regenerate and cut
        self.regenerate_button.setVisible(self.can_regenerate)
        self.continue_button.setVisible(self.can_continue)
        self.update_reveal()

    def _on_branch_step(self, step: int) -> None:
        if self.message_id not in self.sibling_ids:
            return
        target = self.sibling_ids.index(self.message_id) + step
        if 0 <= target < len(self.sibling_ids):
            self.branch_requested.emit(self.sibling_ids[target])

    # --- text -------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._markdown

    def set_text(self, markdown: str) -> None:
        self._markdown = markdown
        marks = self.marked if mentions(markdown, self.marked) else ()
        segments = split_code(markdown)
        first = segments[0]
        if first.code:
            self.body.setText("")
            self.body.hide()
            rest = segments
        else:
            self.body.setText(markdown_to_html(first.text, marks))
            if self.live is None:
                self.body.show()
            rest = segments[1:]
        for widget in self.segments:
            self._content.removeWidget(widget)
            widget.deleteLater()
        self.segments = []
        for segment in rest:
            shown: QWidget
            if segment.code:
                block = CodeBlock(segment.text, segment.language)
                block.copy_requested.connect(self.copy_requested)
                block.copy_button.installEventFilter(self._reveal)
                shown = block
            else:
                label = _body_label(self.role)
                label.setText(markdown_to_html(segment.text, marks))
                shown = label
            self.segments.append(shown)
            self._content.addWidget(shown)

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
        self.note.setVisible(bool(text))


class EmptyState(states.EmptyState):
    """A new conversation: what this is, and three things to ask the starter."""

    prompt_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "sparkles",
            "Type below and press Enter, or try one of these. Everything stays on this machine.",
            title="Start a conversation",
            icon_color="link",
            parent=parent,
        )
        self.hint = self.label
        self.hint.setAccessibleName("")
        theme.set_type(self.hint, theme.Type.SECONDARY)
        self.prompt_buttons: list[QPushButton] = []
        self.body.addSpacing(theme.S)
        for prompt in EXAMPLE_PROMPTS:
            button = QPushButton(prompt)
            button.setAccessibleName(f"Ask: {prompt}")
            button.setToolTip("Send this to the model")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _checked=False, p=prompt: self.prompt_chosen.emit(p))
            self._add(button)
            self.prompt_buttons.append(button)

    def text(self) -> str:
        """What it says (tests and screen readers read the same words)."""
        return f"{self.title.text()}. {self.hint.text()}"

    def setText(self, _text: str) -> None:
        pass


class TranscriptView(QScrollArea):
    """The messages of the current thread, newest at the bottom, kept in view while streaming."""

    edit_requested = Signal(int)
    branch_requested = Signal(int)
    source_requested = Signal(object)  # a PassageRef
    regenerate_requested = Signal()
    continue_requested = Signal()
    prompt_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setAccessibleName("Conversation")
        self._content = QWidget()
        # A comfortable reading column: on a wide window the lines stop growing, centred.
        self._content.setMaximumWidth(self.fontMetrics().averageCharWidth() * READING_CHARACTERS)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(theme.L, theme.L, theme.L, theme.L)
        self._layout.setSpacing(theme.L)
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
        self.empty_label = EmptyState()
        self.empty_label.prompt_chosen.connect(self.prompt_chosen)
        self._layout.insertWidget(0, self.empty_label)

    def clear(self) -> None:
        for bubble in self.bubbles:
            shown = bubble.row or bubble
            shown.hide()  # at once: deleteLater waits for the event loop
            shown.deleteLater()
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
            bubble.set_note(note_for(message))
            if message.role == "assistant":
                bubble.set_model(message.model_lock_id, message.model_sha256, message.params)
                bubble.set_sources(message.params)
        self.set_siblings(siblings or {})
        shown = [m for m in messages if m.role != "system"]
        self._mark_last(shown[-1] if shown else None)
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
        bubble.set_note(note_for(message))
        bubble.set_model(message.model_lock_id, message.model_sha256, message.params)
        bubble.set_sources(message.params)
        self._mark_last(message)

    def _mark_last(self, last: Message | None) -> None:
        """Regenerate on the last reply only; Continue when it was cut at its limit."""
        for bubble in self.bubbles:
            is_last = last is not None and bubble.message_id == last.id
            cut = is_last and last is not None and finish_of(last) == "length"
            bubble.set_last_reply(is_last, cut=cut)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_user_bubbles()

    def _fit_user_bubbles(self) -> None:
        margins = self._layout.contentsMargins()
        column = self._content.width() - margins.left() - margins.right()
        for bubble in self.bubbles:
            if bubble.role == "user":
                bubble.setMaximumWidth(max(160, int(column * USER_SHARE)))

    def _add(self, role: str, message_id: int | None, streaming: bool = False) -> MessageBubble:
        self.empty_label.hide()
        bubble = MessageBubble(role, message_id, self._content, streaming=streaming)
        bubble.marked = self.marked
        bubble.copy_requested.connect(self._on_bubble_copy_requested)
        bubble.edit_requested.connect(self.edit_requested)
        bubble.branch_requested.connect(self.branch_requested)
        bubble.source_requested.connect(self.source_requested)
        bubble.regenerate_requested.connect(self.regenerate_requested)
        bubble.continue_requested.connect(self.continue_requested)
        if role == "user":
            # On the right, as wide as its words need, up to most of the column.
            row = QWidget(self._content)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.addStretch(1)
            line.addWidget(bubble)
            bubble.row = row
            self._layout.insertWidget(self._layout.count() - 1, row)
        else:
            self._layout.insertWidget(self._layout.count() - 1, bubble)
        # A new widget joins the end of the window's tab chain; Tab should reach a
        # message's buttons right after the messages before it, not after the send button.
        previous = self.bubbles[-1].focus_widgets()[-1] if self.bubbles else self
        for widget in bubble.focus_widgets():
            QWidget.setTabOrder(previous, widget)
            previous = widget
        self.bubbles.append(bubble)
        self._fit_user_bubbles()
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
