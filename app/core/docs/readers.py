"""Documents read into plain text: .txt, .md, .html, .pdf and .docx.

Every reader takes the file's bytes (read once, so the text and the sha256 come from the
same bytes) and returns a :class:`Document`: its title, its text by page (one page for
everything but PDF), and where its headings are, so passages can follow the structure.
A file that cannot be read raises :class:`Unreadable` with a sentence saying why; the
caller skips it and lists it, and goes on with the other files.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from app.core.errors import DriftlessError

TEXT_KINDS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown"}
HTML_KINDS = {".html": "html", ".htm": "html", ".xhtml": "html"}
KINDS = {**TEXT_KINDS, **HTML_KINDS, ".pdf": "pdf", ".docx": "docx"}
"""Supported suffixes and the reader each goes to."""

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Files larger than this are skipped (and said to be): a 32 MB text is ~10,000 pages."""
MAX_PDF_PAGES = 5_000
MAX_DOCX_XML_BYTES = 128 * 1024 * 1024
"""The unpacked size of a .docx's parts; more is a zip bomb, not a document."""


class Unreadable(DriftlessError):
    """A file that is skipped; the message says why, for the list of skipped files."""


@dataclass
class Page:
    """The text of one page (PDF) or of the whole file, with its headings' spans."""

    number: int | None
    text: str
    headings: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Document:
    kind: str
    title: str
    pages: list[Page]
    encoding: str | None = None
    """How text bytes were decoded ("utf-8", "windows-1252"...); None for PDF and .docx."""

    @property
    def chars(self) -> int:
        return sum(len(page.text) for page in self.pages)


def kind_of(path: Path) -> str | None:
    return KINDS.get(path.suffix.lower())


def read_document(path: Path, data: bytes) -> Document:
    """``path``'s bytes as a :class:`Document`; :class:`Unreadable` when it cannot be."""
    kind = kind_of(path)
    if kind is None:
        raise Unreadable(f"{path.suffix or 'files without a suffix'} is not a supported type")
    if not data.strip():
        raise Unreadable("the file is empty")
    if kind == "pdf":
        document = _read_pdf(data)
    elif kind == "docx":
        document = _read_docx(data)
    else:
        text, encoding = decode_text(data)
        if kind == "html":
            document = _read_html(text)
        else:
            text = _normalise(text)
            markdown = kind == "markdown"
            headings = markdown_headings(text) if markdown else text_headings(text)
            title = _first_heading(text, headings) if markdown else ""
            document = Document(kind, title, [Page(None, text, headings)])
        document.encoding = encoding
    if not any(page.text.strip() for page in document.pages):
        raise Unreadable(
            "it holds no text (a scanned PDF has only pictures of text)"
            if kind == "pdf"
            else "it holds no text"
        )
    if not document.title:
        document.title = path.stem
    return document


# --- text and its encoding -------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was read in.

    UTF-8, or UTF-16/32 with a byte-order mark, or UTF-16 without one (every other byte
    zero); otherwise Windows-1252 (a superset of Latin-1's printable part) when that reads
    as text. Anything else, and binary data, is :class:`Unreadable`, naming which.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError:
                raise Unreadable(f"it starts as {encoding} but is not valid {encoding}") from None
    head = data[:4096]
    if len(head) >= 2 and head.count(0) * 3 > len(head):
        for encoding in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            if not _mostly_control(text):
                return text, encoding
        raise Unreadable("it is a binary file, not text")
    if b"\x00" in head:
        raise Unreadable("it is a binary file, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        bad = exc.start
    try:
        text = data.decode("windows-1252")
    except UnicodeDecodeError:
        text = ""
    if text and not _mostly_control(text):
        return text, "windows-1252"
    raise Unreadable(
        f"it is not UTF-8 (byte {bad:,} is not) and not in another encoding Driftless "
        "recognises; save it as UTF-8"
    )


def _mostly_control(text: str) -> bool:
    sample = text[:8192]
    return len(_CONTROL.findall(sample)) * 50 > max(1, len(sample))


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S.*$", re.M)
_UNDERLINE = re.compile(r"^(?P<title>[^\n]*\S[^\n]*)\n[=\-]{3,}[ \t]*$", re.M)
_CAPS_LINE = re.compile(r"^[ \t]*(?=[^\n]*[A-Z])[A-Z0-9][A-Z0-9 ,.:;/&()'_-]{1,60}$", re.M)


def markdown_headings(text: str) -> list[tuple[int, int]]:
    spans = [match.span() for match in _MD_HEADING.finditer(text)]
    spans += [match.span("title") for match in _UNDERLINE.finditer(text)]
    return sorted(spans)


def text_headings(text: str) -> list[tuple[int, int]]:
    """Plain text's headings: an underlined line, or a short line in capitals ("NAME",
    "DESCRIPTION": how manuals and pydoc's pages are laid out)."""
    spans = [match.span("title") for match in _UNDERLINE.finditer(text)]
    spans += [match.span() for match in _CAPS_LINE.finditer(text)]
    return sorted(set(spans))


def _first_heading(text: str, headings: list[tuple[int, int]]) -> str:
    if not headings:
        return ""
    start, end = headings[0]
    return text[start:end].strip().lstrip("#").strip()[:200]


# --- HTML ------------------------------------------------------------------------------

_SKIPPED_TAGS = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "li",
    "ul", "ol", "dl", "dt", "dd", "tr", "table", "blockquote", "pre", "figure",
    "figcaption", "form", "fieldset", "address", "details", "summary", "hr", "br", "body",
}  # fmt: skip
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


class _HTMLText(HTMLParser):
    """The visible text of a page: blocks on lines of their own, headings marked."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[tuple[int, int]] = []
        self.title = ""
        self._skip = 0
        self._in_title = False
        self._heading_start: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag in _HEADING_TAGS:
            self._break()
            self._heading_start = self.length
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _HEADING_TAGS and self._heading_start is not None:
            if self.length > self._heading_start:
                self.headings.append((self._heading_start, self.length))
            self._heading_start = None
            self._break()
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        text = re.sub(r"\s+", " ", data)
        if not text.strip():
            if self.parts and not self.parts[-1].endswith(("\n", " ")):
                self._add(" ")
            return
        if not self.parts or self.parts[-1].endswith("\n"):
            text = text.lstrip()
        self._add(text)

    def _add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def _break(self) -> None:
        if self.parts and not self.parts[-1].endswith("\n\n"):
            self._add("\n\n" if not self.parts[-1].endswith("\n") else "\n")


def _read_html(text: str) -> Document:
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # the parser is lenient; anything left is a broken file
        raise Unreadable(f"its HTML could not be read ({exc})") from exc
    body = "".join(parser.parts)
    return Document(
        "html", " ".join(parser.title.split())[:200], [Page(None, body, parser.headings)]
    )


# --- PDF and .docx ---------------------------------------------------------------------


def _read_pdf(data: bytes) -> Document:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd object
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("the PDF is encrypted with a password")
        count = len(reader.pages)
        if count > MAX_PDF_PAGES:
            raise Unreadable(f"the PDF has {count:,} pages; at most {MAX_PDF_PAGES:,} are read")
        pages = [
            Page(number, _normalise(page.extract_text() or ""))
            for number, page in enumerate(reader.pages, 1)
        ]
        meta = reader.metadata
        title = str(meta.title or "") if meta is not None else ""
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise Unreadable(f"the PDF is damaged ({exc or type(exc).__name__})") from exc
    except Exception as exc:  # pypdf raises many kinds on hostile files; none may stop the run
        if "encrypt" in str(exc).lower() or "crypt" in type(exc).__name__.lower():
            raise Unreadable(f"the PDF is encrypted in a way that cannot be read ({exc})") from exc
        raise Unreadable(f"the PDF could not be read ({exc or type(exc).__name__})") from exc
    return Document("pdf", " ".join(title.split())[:200], pages)


def _read_docx(data: bytes) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise Unreadable("it is not a .docx file (not a zip archive)") from exc
    if unpacked > MAX_DOCX_XML_BYTES:
        raise Unreadable(f"its parts unpack to {unpacked:,} bytes, more than a document holds")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors...
        raise Unreadable(f"it is not a readable .docx file ({exc or type(exc).__name__})") from exc
    parts: list[str] = []
    headings: list[tuple[int, int]] = []
    length = 0
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = paragraph.style.name if paragraph.style is not None else ""
        if style and (style.startswith("Heading") or style == "Title"):
            headings.append((length, length + len(text)))
        parts.append(text)
        length += len(text) + 2
    for table in document.tables:
        for row in table.rows:
            line = " | ".join(cell.text.strip() for cell in row.cells)
            parts.append(line)
            length += len(line) + 2
    body = "\n\n".join(parts)
    title = document.core_properties.title or _first_heading(body, headings)
    return Document("docx", title[:200], [Page(None, body, headings)])
