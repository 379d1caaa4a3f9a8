"""Each page before the restyle of issue 27 and now, side by side: ``docs/before-after/``.

The picture from before comes out of git (``git show COMMIT:docs/screenshots/NAME.png``,
the commit named in :data:`PAIRS`), the one from now out of ``docs/screenshots`` (retaken
by ``make screenshots`` and the tests that set up a state). Both are scaled to one height,
set side by side under a label each, with a caption line below; Qt paints it offscreen.

    .venv/bin/python docs/before_after.py [OUT]     # default: docs/before-after
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent

BEFORE_THEME = "e9f6627"
"""The parent of the first restyle commit (29b8cc6, the theme module): the window as it was."""
BEFORE_PAGES = "f2d5a36"
"""The last retake before this round's page titles, states and headline (the Documents page
came after the theme, so this is its earliest picture)."""

HEIGHT = 560
"""Both pictures are scaled to this height (px)."""
GAP = 24
MAX_BYTES = 400_000


@dataclass(frozen=True)
class Pair:
    name: str
    before: str
    """``COMMIT:PATH`` in git."""
    after: str
    """A path under the repository."""
    caption: str


PAIRS = (
    Pair(
        "chat",
        f"{BEFORE_THEME}:docs/screenshots/chat-light.png",
        "docs/screenshots/chat-light.png",
        "Chat: a navigation rail with icons instead of a list of three words; the page's "
        "title; your message on the right in a tint, the reply under the model's name.",
    ),
    Pair(
        "documents",
        f"{BEFORE_PAGES}:docs/screenshots/documents-empty.png",
        "docs/screenshots/documents-empty.png",
        "Documents before its first collection: a title, then the empty state (icon, "
        "sentence, New collection in the accent) in a readable column.",
    ),
    Pair(
        "classify",
        f"{BEFORE_THEME}:docs/screenshots/classify.png",
        "docs/screenshots/classify.png",
        "Classify: the page's title above its choices; one type scale and spacing; the "
        "primary action and the rest grouped in rows that wrap.",
    ),
    Pair(
        "classify-evaluate",
        f"{BEFORE_PAGES}:docs/screenshots/classify-evaluate-800x600-dark.png",
        "docs/screenshots/classify-evaluate-800x600-dark.png",
        "Evaluate (dark, 800x600): the accuracy as a headline with macro-F1 and the count "
        "beside it, each label's scores in a table, the details below, the matrix beside.",
    ),
    Pair(
        "models",
        f"{BEFORE_THEME}:docs/screenshots/models-installed.png",
        "docs/screenshots/models-installed.png",
        "Models: the title in the title style and the intro in the secondary style; the "
        "pin beside a pinned model's name; the sha256 in monospace with Copy sha256.",
    ),
)


def git_png(spec: str) -> bytes:
    return subprocess.run(["git", "show", spec], cwd=ROOT, check=True, capture_output=True).stdout


def compose(before: bytes, after: Path, caption: str, before_label: str) -> object:
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter

    from app.ui import theme

    old = QImage.fromData(before)
    new = QImage(str(after))
    if old.isNull() or new.isNull():
        raise SystemExit(f"before_after: could not read the pictures for {after.name}")
    old = old.scaledToHeight(HEIGHT, Qt.TransformationMode.SmoothTransformation)
    new = new.scaledToHeight(HEIGHT, Qt.TransformationMode.SmoothTransformation)
    label_height, caption_height = 30, 40
    width = old.width() + GAP + new.width() + 2 * GAP
    height = label_height + HEIGHT + caption_height + GAP
    image = QImage(width, height, QImage.Format.Format_RGB32)
    c = theme.LIGHT
    image.fill(QColor(c.window))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    strong = QFont()
    strong.setPixelSize(16)
    strong.setWeight(QFont.Weight.DemiBold)
    body = QFont()
    body.setPixelSize(15)
    x_old, x_new = GAP, GAP + old.width() + GAP
    painter.setPen(QColor(c.text))
    painter.setFont(strong)
    top = GAP // 2
    painter.drawText(QRect(x_old, top, old.width(), label_height), 0, before_label)
    painter.drawText(QRect(x_new, top, new.width(), label_height), 0, "After")
    painter.drawImage(x_old, top + label_height, old)
    painter.drawImage(x_new, top + label_height, new)
    painter.setPen(QColor(c.border))
    for x, picture in ((x_old, old), (x_new, new)):
        painter.drawRect(x - 1, top + label_height - 1, picture.width() + 1, HEIGHT + 1)
    painter.setPen(QColor(c.text))
    painter.setFont(body)
    painter.drawText(
        QRect(GAP, top + label_height + HEIGHT + 8, width - 2 * GAP, caption_height),
        int(Qt.TextFlag.TextWordWrap),
        caption,
    )
    painter.end()
    return image


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtGui import QGuiApplication, QImage

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else ROOT / "docs" / "before-after"
    out.mkdir(parents=True, exist_ok=True)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    app = QGuiApplication.instance() or QGuiApplication(["before_after"])
    assert app is not None
    for pair in PAIRS:
        commit = pair.before.split(":", 1)[0]
        image = compose(git_png(pair.before), ROOT / pair.after, pair.caption, f"Before ({commit})")
        assert isinstance(image, QImage)
        path = out / f"{pair.name}.png"
        image.save(str(path), "PNG", 0)  # 0: the smallest file
        if path.stat().st_size > MAX_BYTES:
            # Still too big: a palette of 256 colours (text stays sharp on flat UI colours).
            image.convertToFormat(QImage.Format.Format_Indexed8).save(str(path), "PNG", 0)
        print(f"{path} {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
