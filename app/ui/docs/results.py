"""Search hits as a person reads them: rank, file, page or line, score, and the passage
with the query's words highlighted. A click on a hit's file name opens the passage."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import PurePath

from PySide6.QtCore import QUrl, Signal, Slot
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.core.docs.records import Hit
from app.core.docs.search import match_expression
from app.ui import theme
from app.ui.passage_view import highlight_words

SHOWN_CHARS = 420
"""Characters of a passage shown under its hit (the whole passage opens on a click)."""

_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The words the keyword search matched on (common words left out, as it does)."""
    expression = match_expression(query) or ""
    return [w.replace('""', '"') for w in _QUOTED.findall(expression)]


def matched_words(text: str, query: str) -> set[str]:
    """The words of ``text`` that stand for a query word: the same word, or one with its
    stem (the index stems words: "refunds" finds "refund" and "refunded")."""
    stems = [w if len(w) <= 4 else w[: max(4, len(w) - 2)] for w in query_words(query)]
    found: set[str] = set()
    for word in {w.lower() for w in _WORD.findall(text)}:
        for query_word, stem in zip(query_words(query), stems, strict=True):
            if word == query_word or (len(query_word) > 4 and word.startswith(stem)):
                found.add(word)
    return found


def excerpt(text: str, words: set[str], limit: int = SHOWN_CHARS) -> str:
    """About ``limit`` characters of ``text``, starting a little before its first match."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    first = next((m.start() for m in _WORD.finditer(flat) if m.group().lower() in words), 0)
    begin = max(0, min(first - limit // 4, len(flat) - limit))
    cut = flat[begin : begin + limit]
    return ("…" if begin else "") + cut + ("…" if begin + limit < len(flat) else "")


def hit_html(number: int, hit: Hit, query: str) -> str:
    words = matched_words(hit.text, query)
    name = html.escape(PurePath(hit.source).name)
    heading = f" · {html.escape(hit.heading)}" if hit.heading else ""
    return (
        f'<p><b>{number}. <a href="hit:{number - 1}">{name}</a></b>, '
        f"{html.escape(hit.location)} · score {hit.score:.4f}{heading}<br>"
        f"{highlight_words(excerpt(hit.text, words), words)}</p>"
    )


class HitsView(QTextBrowser):
    """The ranked hits of the last search; ``hit_opened`` when one is clicked."""

    hit_opened = Signal(object)  # Hit

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Search results")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.hits: list[Hit] = []
        self.query = ""
        self.source_html = ""
        self.anchorClicked.connect(self._on_anchor_clicked)
        # Links take the palette's colour when the HTML is read: read it again when the
        # scheme switches, or a light scheme's dark blue stays on a dark background.
        theme.on_palette_change(self, self._on_palette_changed)

    @Slot()
    def _on_palette_changed(self) -> None:
        self.setHtml(self.source_html)

    def show_hits(self, hits: Sequence[Hit], query: str) -> None:
        self.hits, self.query = list(hits), query
        if not hits:
            self._show(
                f"<p>Nothing in this collection matches “{html.escape(query)}”. "
                "Try other words, or add the folders that hold the answer.</p>"
            )
            return
        self._show("".join(hit_html(n, hit, query) for n, hit in enumerate(hits, 1)))

    def show_text(self, text: str) -> None:
        self.hits = []
        self._show(f"<p>{html.escape(text)}</p>")

    def _show(self, source: str) -> None:
        self.source_html = source
        self.setHtml(source)

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        kind, _, index = url.toString().partition(":")
        if kind == "hit" and index.isdigit() and int(index) < len(self.hits):
            self.hit_opened.emit(self.hits[int(index)])
