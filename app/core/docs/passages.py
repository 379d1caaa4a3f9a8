"""A document cut into passages along its structure, each keeping where it came from.

Blocks are headings and paragraphs (text between blank lines); passages are runs of
blocks up to :attr:`Chunking.target` characters. A heading starts a new passage (unless
the passage under way is shorter than a third of the target: a title line, a one-line
section) and is kept as its ``heading`` (indexed with it, so a paragraph under "Refunds"
is found by "refund"). A block longer than :attr:`Chunking.limit` is cut at a sentence or
line end. Consecutive passages overlap by up to :attr:`Chunking.overlap` characters
(the end of one is the start of the next), so a sentence cut at a boundary is whole in
one of them. Every passage is ``page.text[start:end]`` exactly, with its page number
(PDF) and first line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from app.core.docs.readers import Document, Page

MIN_CHARS = 12
"""Passages with fewer letters or digits than this (a lone "---") are left out."""


@dataclass(frozen=True)
class Chunking:
    """How passages are cut; recorded with a collection (another cut means a re-index)."""

    target: int = 900
    limit: int = 1400
    overlap: int = 150
    version: int = 2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunking:
        return cls(**{key: int(data[key]) for key in ("target", "limit", "overlap", "version")})


@dataclass(frozen=True)
class Passage:
    page: int | None
    line: int
    start: int
    end: int
    heading: str
    text: str


_BLANK = re.compile(r"\n[ \t]*\n")
_CUT = re.compile(r"(?<=[.!?;:])\s+|\n")


def split_document(document: Document, chunking: Chunking | None = None) -> list[Passage]:
    chunking = chunking or Chunking()
    passages: list[Passage] = []
    for page in document.pages:
        passages.extend(_split_page(page, chunking))
    return passages


def _blocks(page: Page) -> Iterator[tuple[int, int, bool]]:
    """(start, end, is_heading) of each block, in order, stripped of outer whitespace."""
    text = page.text
    cuts = {0, len(text)}
    for start, end in page.headings:
        cuts.update((start, end))
    for match in _BLANK.finditer(text):
        cuts.update(match.span())
    headings = set(page.headings)
    edges = sorted(cuts)
    for start, end in itertools.pairwise(edges):
        piece = text[start:end]
        stripped = piece.strip()
        if not stripped:
            continue
        lead = len(piece) - len(piece.lstrip())
        yield start + lead, start + lead + len(stripped), (start, end) in headings


def _pieces(text: str, start: int, end: int, chunking: Chunking) -> Iterator[tuple[int, int]]:
    """A long block cut near ``target`` at a sentence or line end (or a space)."""
    while end - start > chunking.limit:
        window = text[start : start + chunking.limit]
        cut = 0
        for match in _CUT.finditer(window):
            if match.start() >= chunking.target // 2:
                cut = match.start()
                if cut >= chunking.target:
                    break
        if not cut:
            cut = window.rfind(" ", chunking.target // 2) if " " in window else -1
            cut = cut if cut > 0 else chunking.target
        yield start, start + cut
        back = max(start + cut - chunking.overlap, start + 1)
        space = text.find(" ", back, start + cut)
        start = space + 1 if space != -1 else back
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def _split_page(page: Page, chunking: Chunking) -> Iterator[Passage]:
    text = page.text
    heading = ""  # the latest heading
    opened_with = ""  # the heading the passage under way started under
    current: list[tuple[int, int]] = []

    def emit() -> Passage | None:
        start, end = current[0][0], current[-1][1]
        body = text[start:end]
        if sum(ch.isalnum() for ch in body) < MIN_CHARS:
            return None
        line = text.count("\n", 0, start) + 1
        return Passage(page.number, line, start, end, opened_with, body)

    for start, end, is_heading in _blocks(page):
        if is_heading:
            # A heading starts a passage, unless the one under way is still short (a
            # title line, a one-line section): then the sections share a passage.
            heading = " ".join(text[start:end].split()).lstrip("#").strip()[:200]
            if not current or current[-1][1] - current[0][0] >= chunking.target // 3:
                if current and (passage := emit()):
                    yield passage
                current = []
            if not current:
                opened_with = heading
            current.append((start, end))
            continue
        for piece in _pieces(text, start, end, chunking):
            size = piece[1] - current[0][0] if current else 0
            if current and size > chunking.target:
                if passage := emit():
                    yield passage
                last = current[-1]
                overlap = last if last[1] - last[0] <= chunking.overlap else None
                current = [overlap] if overlap and overlap[1] <= piece[0] else []
                opened_with = heading
            if not current:
                opened_with = heading
            current.append(piece)
    if current and (passage := emit()):
        yield passage
