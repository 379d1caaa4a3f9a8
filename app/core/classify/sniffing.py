"""How a table file is encoded and delimited, decided from its first bytes.

The encoding is read from a byte-order mark (UTF-8, UTF-16, UTF-32) or, without one,
must be UTF-8: a file whose non-ASCII bytes are not UTF-8 and never form a UTF-8
sequence is named (it looks like Latin-1 or Windows-1252; UTF-16 without a mark) rather
than read as garbage. A person can always name the encoding instead.

The delimiter is chosen from the content, whatever the file is called: each candidate
(comma, semicolon, tab, pipe) splits the first records, quotes respected, and the one
whose header has at least two columns and whose rows most often have as many wins. The
extension only breaks ties.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

from app.core.classify.errors import DataFileError

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SNIFF_RECORDS = 50
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NAMES = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}


class UnknownEncoding(DataFileError):
    """The file is not UTF-8 and has no byte-order mark; ``suggested`` names a codec to try."""

    def __init__(self, message: str, suggested: str) -> None:
        super().__init__(message)
        self.suggested = suggested


def encoding_name(codec: str) -> str:
    """A codec as people know it: ``UTF-8``, ``latin-1``..."""
    return _NAMES.get(codec, codec)


def check_codec(name: str) -> str:
    """The codec to read with for an encoding a person named (``utf-8`` also skips a BOM)."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise DataFileError(
            f"'{name}' is not an encoding Python knows. Try utf-8, utf-16, latin-1 or cp1252."
        ) from None
    return "utf-8-sig" if codec == "utf-8" else name.strip().casefold()


def detect_encoding(head: bytes, file_name: str) -> str:
    """The codec of a file starting with ``head``; raises :class:`UnknownEncoding` if unsure."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.end >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8-sig"  # a character cut by the end of the sample
    if head.count(0) > len(head) // 10:
        odd = head[1::2].count(0) > head[0::2].count(0)
        codec = "utf-16-le" if odd else "utf-16-be"
        raise UnknownEncoding(
            f"{file_name} looks like UTF-16 text without a byte-order mark. Save it as "
            "UTF-8 (CSV UTF-8 in spreadsheet programs) and try again.",
            codec,
        )
    text = head.decode("utf-8", errors="surrogateescape")
    valid_multibyte = any(ord(c) > 0x7F and not 0xDC80 <= ord(c) <= 0xDCFF for c in text)
    if valid_multibyte:
        return "utf-8-sig"  # UTF-8 with a few bad bytes: those rows are reported one by one
    windows = any(0x80 <= b <= 0x9F for b in head)
    raise UnknownEncoding(
        f"{file_name} is not UTF-8 text: it looks like Latin-1 (or Windows-1252). Save it "
        "as UTF-8 (CSV UTF-8 in spreadsheet programs) and try again.",
        "cp1252" if windows else "latin-1",
    )


@dataclass(frozen=True)
class _Candidate:
    delimiter: str
    width: int
    consistency: float


def guess_delimiter(sample: str, preferred: str = ",") -> str:
    """The delimiter under which the first records of ``sample`` agree on a width (>= 2)."""
    best: tuple[float, bool, int] | None = None
    chosen = preferred
    for delimiter in DELIMITERS:
        candidate = _try(sample, delimiter)
        if candidate is None:
            continue
        key = (candidate.consistency, delimiter == preferred, candidate.width)
        if best is None or key > best:
            best, chosen = key, delimiter
    return chosen


def _try(sample: str, delimiter: str) -> _Candidate | None:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    records: list[list[str]] = []
    try:
        for record in reader:
            if record and any(field.strip() for field in record):
                records.append(record)
            if len(records) > SNIFF_RECORDS:
                break
    except csv.Error:
        pass
    if not records or len(records[0]) < 2:
        return None
    width = len(records[0])
    body = records[1:]
    consistency = sum(len(r) == width for r in body) / len(body) if body else 1.0
    return _Candidate(delimiter, width, consistency)
