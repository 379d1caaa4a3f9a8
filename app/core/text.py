"""Untrusted text made safe to show: names from the Hub, from a lockfile, from a file.

A repo name, a filename, a licence or a model id can come from someone else. Printed
raw, an escape sequence can recolour or rewrite a terminal, a newline can forge a line
of output and a bidi control can make ``evil.gguf`` read as something else. Every front
shows such text through :func:`printable`, which spells each control, format (bidi,
zero-width) and separator character as a visible escape and shortens absurd lengths.
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls (ESC, CR, LF, BEL...); Cf: format characters (bidi overrides and
# isolates, zero-width joiners, the BOM); Zl/Zp: line and paragraph separators; Cs, Co, Cn:
# surrogates, private use and unassigned code points, which no name needs.
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
ELLIPSIS = "…"


def is_printable(text: str) -> bool:
    """True when ``text`` has no character :func:`printable` would escape."""
    return not any(unicodedata.category(ch) in _UNSAFE for ch in text)


def printable(value: object, limit: int | None = None) -> str:
    """``value`` as one visible line: unsafe characters as ``\\x1b``/``\\u202e`` escapes.

    ``limit`` shortens the result to that many characters (with an ellipsis), for names
    that a hostile server could make megabytes long.
    """
    text = str(value)
    if not is_printable(text):
        text = "".join(_escape(ch) if unicodedata.category(ch) in _UNSAFE else ch for ch in text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
