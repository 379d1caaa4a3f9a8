"""Render the app icon's PNG sizes, Windows .ico and macOS .icns from its SVG.

    .venv/bin/python packaging/make_icons.py     (make icons)

The SVG (resources/icons/io.driftless.Driftless.svg) is the source; the outputs are
committed, so building the app needs no image tools. PNGs go in the freedesktop icon
theme layout (hicolor/<size>x<size>/apps/), ready to copy into ~/.local/share/icons.
The .ico and .icns hold PNG images, which Windows (Vista on) and macOS (10.7 on) read.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG = ICONS / "io.driftless.Driftless.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}
ICNS_TYPES_2X = {1024: b"ic10"}


def png_path(size: int) -> Path:
    return ICONS / "hicolor" / f"{size}x{size}" / "apps" / "io.driftless.Driftless.png"


def render(renderer: QSvgRenderer, size: int) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def ico(images: dict[int, bytes]) -> bytes:
    """An ICO file whose entries are PNG images."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in sorted(images.items()):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    return header + entries + blobs


def icns(images: dict[bytes, bytes]) -> bytes:
    """An ICNS file whose entries are PNG images."""
    body = b"".join(kind + struct.pack(">I", len(png) + 8) + png for kind, png in images.items())
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        print(f"make_icons: {SVG} is not a valid SVG", file=sys.stderr)
        return 1
    sizes = sorted({*PNG_SIZES, *ICO_SIZES, *ICNS_TYPES, *ICNS_TYPES_2X})
    rendered = {size: render(renderer, size) for size in sizes}
    for size in PNG_SIZES:
        path = png_path(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered[size])
    (ICONS / "driftless.ico").write_bytes(ico({s: rendered[s] for s in ICO_SIZES}))
    kinds = {**ICNS_TYPES, **ICNS_TYPES_2X}
    (ICONS / "driftless.icns").write_bytes(icns({kinds[s]: rendered[s] for s in kinds}))
    print(f"make_icons: wrote {len(PNG_SIZES)} PNGs, driftless.ico and driftless.icns")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
