"""The confusion matrix as a picture: an SVG (sharp, any viewer) or a PNG (no dependency).

Rows are gold labels, columns predictions; a cell's shade is the share of its row (so
a dark diagonal means high recall whatever the class sizes) and it shows its count.
Columns are numbered; the rows say which number is which label. The PNG is written
with zlib and struct alone, its text in a built-in 3x5 pixel font.
"""

from __future__ import annotations

import struct
import zlib
from html import escape
from pathlib import Path

from app.core.classify.metrics import Scores
from app.core.fsutil import atomic_write_bytes

MAX_NAME = 24

# A 3x5 pixel font: five rows of three bits per character (bit 2 is the left column).
# fmt: off
_FONT: dict[str, tuple[int, ...]] = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 3, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 2, 2),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), "A": (2, 5, 7, 5, 5), "B": (6, 5, 6, 5, 6),
    "C": (3, 4, 4, 4, 3), "D": (6, 5, 5, 5, 6), "E": (7, 4, 6, 4, 7), "F": (7, 4, 6, 4, 4),
    "G": (3, 4, 5, 5, 3), "H": (5, 5, 7, 5, 5), "I": (7, 2, 2, 2, 7), "J": (1, 1, 1, 5, 2),
    "K": (5, 5, 6, 5, 5), "L": (4, 4, 4, 4, 7), "M": (5, 7, 7, 5, 5), "N": (6, 5, 5, 5, 5),
    "O": (2, 5, 5, 5, 2), "P": (6, 5, 6, 4, 4), "Q": (2, 5, 5, 6, 3), "R": (6, 5, 6, 5, 5),
    "S": (3, 4, 2, 1, 6), "T": (7, 2, 2, 2, 2), "U": (5, 5, 5, 5, 7), "V": (5, 5, 5, 5, 2),
    "W": (5, 5, 7, 7, 5), "X": (5, 5, 2, 5, 5), "Y": (5, 5, 2, 2, 2), "Z": (7, 1, 2, 4, 7),
    "-": (0, 0, 7, 0, 0), "_": (0, 0, 0, 0, 7), ".": (0, 0, 0, 0, 2), ":": (0, 2, 0, 2, 0),
    "%": (5, 1, 2, 4, 5), "/": (1, 1, 2, 4, 4), "?": (7, 1, 2, 0, 2), " ": (0, 0, 0, 0, 0),
    ",": (0, 0, 0, 2, 4), "(": (1, 2, 2, 2, 1), ")": (4, 2, 2, 2, 4), "+": (0, 2, 7, 2, 0),
    "=": (0, 7, 0, 7, 0), "'": (2, 2, 0, 0, 0), "!": (2, 2, 2, 0, 2), "&": (2, 5, 2, 5, 3),
    "<": (1, 2, 4, 2, 1), ">": (4, 2, 1, 2, 4), "#": (5, 7, 5, 7, 5), "@": (7, 5, 7, 4, 7),
}
# fmt: on
_SCALE = 2  # each font pixel is 2x2 image pixels
_CHAR_W = 4 * _SCALE
_CHAR_H = 6 * _SCALE


def _shade(fraction: float) -> tuple[int, int, int]:
    """White to dark blue."""
    f = max(0.0, min(1.0, fraction))
    return (int(255 - f * (255 - 24)), int(255 - f * (255 - 70)), int(255 - f * (255 - 140)))


def _row_shares(scores: Scores) -> list[list[float]]:
    shares = []
    for row in scores.confusion:
        total = sum(row)
        shares.append([v / total if total else 0.0 for v in row])
    return shares


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def confusion_svg(scores: Scores, title: str = "") -> str:
    k = len(scores.labels)
    cell = 44 if k <= 12 else (24 if k <= 30 else 14)
    left = 40 + 7 * max(len(_short(n)) for n in scores.labels)
    top = 70
    width = left + cell * k + 20
    height = top + cell * k + 40
    shares = _row_shares(scores)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="20" font-size="14">{escape(title)}</text>',
        f'<text x="10" y="40">rows: gold label · columns: predicted · accuracy '
        f"{scores.accuracy:.1%} · macro-F1 {scores.macro_f1:.3f} · n={scores.n}</text>",
    ]
    for j in range(k):
        x = left + j * cell + cell / 2
        out.append(f'<text x="{x}" y="{top - 6}" text-anchor="middle">{j + 1}</text>')
    for i, name in enumerate(scores.labels):
        y = top + i * cell
        out.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end">'
            f"{i + 1} {escape(_short(name))}</text>"
        )
        for j in range(k):
            r, g, b = _shade(shares[i][j])
            x = left + j * cell
            count = scores.confusion[i][j]
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="rgb({r},{g},{b})" stroke="#ddd"><title>gold {escape(name)}, predicted '
                f"{escape(scores.labels[j])}: {count}</title></rect>"
            )
            if cell >= 24 and count:
                colour = "white" if shares[i][j] > 0.5 else "black"
                out.append(
                    f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                    f'fill="{colour}">{count}</text>'
                )
    out.append("</svg>")
    return "\n".join(out) + "\n"


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int]) -> None:
        colour = bytes(rgb)
        for row in range(max(0, y), min(self.height, y + h)):
            start = (row * self.width + max(0, x)) * 3
            end = (row * self.width + min(self.width, x + w)) * 3
            if end > start:
                self.pixels[start:end] = colour * ((end - start) // 3)

    def text(self, x: int, y: int, text: str, rgb: tuple[int, int, int] = (0, 0, 0)) -> None:
        for n, char in enumerate(text.upper()):
            glyph = _FONT.get(char, _FONT["?"])
            for row, bits in enumerate(glyph):
                for col in range(3):
                    if bits & (4 >> col):
                        self.rect(
                            x + n * _CHAR_W + col * _SCALE, y + row * _SCALE, _SCALE, _SCALE, rgb
                        )

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[r * self.width * 3 : (r + 1) * self.width * 3])
            for r in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def confusion_png(scores: Scores, title: str = "") -> bytes:
    k = len(scores.labels)
    digits = len(str(max((max(r) for r in scores.confusion), default=0)))
    cell = max(_CHAR_H + 4, (digits + 1) * _CHAR_W) if k <= 30 else _CHAR_H + 6
    names = [f"{i + 1} {_short(n).replace('…', '.')}" for i, n in enumerate(scores.labels)]
    left = 12 + _CHAR_W * max(len(n) for n in names)
    top = 3 * _CHAR_H + 16
    width = max(left + cell * k + 12, 12 + _CHAR_W * 48)
    height = top + cell * k + 12
    canvas = _Canvas(width, height)
    canvas.text(6, 4, (title or "confusion matrix")[:60])
    canvas.text(6, 4 + _CHAR_H + 2, f"ACC {scores.accuracy:.1%} F1 {scores.macro_f1:.3f}")
    shares = _row_shares(scores)
    for j in range(k):
        label = str(j + 1)
        if cell >= len(label) * _CHAR_W:
            canvas.text(left + j * cell + 2, top - _CHAR_H, label)
    for i in range(k):
        y = top + i * cell
        canvas.text(6, y + max(0, (cell - _CHAR_H) // 2) + 2, names[i])
        for j in range(k):
            x = left + j * cell
            canvas.rect(x, y, cell, cell, (221, 221, 221))
            canvas.rect(x + 1, y + 1, cell - 1, cell - 1, _shade(shares[i][j]))
            count = scores.confusion[i][j]
            if count and cell >= 14 and len(str(count)) * _CHAR_W <= cell - 2:
                colour = (255, 255, 255) if shares[i][j] > 0.5 else (0, 0, 0)
                canvas.text(x + 3, y + (cell - _CHAR_H) // 2 + 2, str(count), colour)
    return canvas.png()


def write_confusion(path: Path, scores: Scores, title: str = "") -> None:
    """Write the picture; ``.svg`` gives an SVG, anything else a PNG."""
    if Path(path).suffix.casefold() == ".svg":
        atomic_write_bytes(Path(path), confusion_svg(scores, title).encode("utf-8"))
    else:
        atomic_write_bytes(Path(path), confusion_png(scores, title))
