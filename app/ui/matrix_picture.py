"""The confusion matrix as a picture, painted with Qt: one drawing for the window, PNG and SVG.

Rows are gold labels, columns predictions, both named (column names rotated; long
names elided, the window's tooltips give them whole). A cell shows its count and,
when there is room, its share of the gold row; its fill goes from the palette's
base colour to its highlight colour with that share, so a strong diagonal means high
recall whatever the class sizes, and the picture follows a light or dark scheme.
Cell text takes whichever of the palette's text colours contrasts most with the
fill (black or white when none reaches 4.5:1).

:func:`layout_matrix` places every piece of text (tests check the boxes never
overlap); :func:`paint_matrix` draws a layout with any painter. This module needs
QtGui and QtSvg only, never a window, and belongs to no page: the Classify page's view
(:mod:`app.ui.classify.matrix`) draws with it, and the command line (``driftless eval
--confusion-png``) imports it lazily and paints offscreen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QImage,
    QImageWriter,
    QLinearGradient,
    QPainter,
    QPalette,
    QPen,
)

from app.core.classify import Scores
from app.core.fsutil import atomic_write_bytes

MARGIN = 12
GAP = 6
LABEL_CHARS = 24
"""Label names longer than about this many average characters are elided."""
MIN_CONTRAST = 4.5
"""WCAG's contrast for normal text; cell text falls back to black or white below it."""
GOLD_AXIS = "Gold label"
PREDICTED_AXIS = "Predicted label"


@dataclass(frozen=True)
class TextBox:
    """A piece of text and the box it fills in the picture (vertical text reads upwards)."""

    text: str
    full: str
    rect: QRectF
    vertical: bool = False


@dataclass(frozen=True)
class MatrixLayout:
    """Where everything goes, in picture pixels, independent of colours."""

    scores: Scores
    width: int
    height: int
    cell: float
    grid: QRectF
    fonts: dict[str, QFont]
    title: TextBox
    summary: TextBox
    gold_axis: TextBox
    predicted_axis: TextBox
    rows: tuple[TextBox, ...]
    columns: tuple[TextBox, ...]
    legend: QRectF
    legend_texts: tuple[TextBox, ...]
    two_lines: bool
    """Whether each cell shows its row share under its count."""

    @property
    def size(self) -> QSize:
        return QSize(self.width, self.height)

    @property
    def names_top(self) -> float:
        """Where the band of column names (with the predicted axis title) begins."""
        return self.predicted_axis.rect.top()

    def cell_rect(self, gold: int, predicted: int) -> QRectF:
        return QRectF(
            self.grid.left() + predicted * self.cell,
            self.grid.top() + gold * self.cell,
            self.cell,
            self.cell,
        )

    def cell_at(self, point: QPointF) -> tuple[int, int] | None:
        """The (gold, predicted) cell under a point, or None."""
        if not self.grid.contains(point):
            return None
        k = len(self.scores.labels)
        gold = min(k - 1, int((point.y() - self.grid.top()) / self.cell))
        predicted = min(k - 1, int((point.x() - self.grid.left()) / self.cell))
        return gold, predicted

    def text_boxes(self) -> list[TextBox]:
        """Every text outside the cells."""
        return [
            self.title,
            self.summary,
            self.gold_axis,
            self.predicted_axis,
            *self.rows,
            *self.columns,
            *self.legend_texts,
        ]

    def tooltip_at(self, point: QPointF) -> str | None:
        """What the window shows on hover: a cell's labels and numbers, or a full name."""
        cell = self.cell_at(point)
        if cell is not None:
            gold, predicted = cell
            labels = self.scores.labels
            count = self.scores.confusion[gold][predicted]
            share = (
                f", {self.scores.row_share(gold, predicted):.0%} of the gold row"
                if sum(self.scores.confusion[gold])
                else ""
            )
            return f"Gold: {labels[gold]}\nPredicted: {labels[predicted]}\n{count:,} texts{share}"
        for box in (*self.rows, *self.columns):
            if box.rect.contains(point):
                return box.full
        return None


def _pixel_font(font: QFont, scale: float = 1.0, *, bold: bool = False) -> QFont:
    """A copy sized in pixels, so the layout measures the same on a screen, a QImage or an SVG."""
    pixels = font.pixelSize() if font.pixelSize() > 0 else font.pointSizeF() * 96 / 72
    copy = QFont(font)
    copy.setPixelSize(max(7, round(pixels * scale)))
    copy.setBold(bold)
    return copy


def _width(metrics: QFontMetricsF, text: str) -> float:
    return math.ceil(metrics.horizontalAdvance(text))


def layout_matrix(scores: Scores, title: str = "", font: QFont | None = None) -> MatrixLayout:
    """Place the title, axis titles, label names, cells and the colour legend."""
    font = font if font is not None else QGuiApplication.font()
    k = len(scores.labels)
    label_font = _pixel_font(font, 1.0 if k <= 30 else 0.9)
    fonts = {
        "title": _pixel_font(font, 1.2, bold=True),
        "text": _pixel_font(font),
        "axis": _pixel_font(font, bold=True),
        "label": label_font,
        "count": _pixel_font(font, 1.0 if k <= 12 else 0.85),
        "share": _pixel_font(font, 0.85),
    }
    fm = {name: QFontMetricsF(f) for name, f in fonts.items()}
    line = math.ceil(fm["label"].height())
    max_count = max((max(row) for row in scores.confusion if row), default=0)
    count_width = _width(fm["count"], str(max_count))
    two_lines = k <= 12
    if two_lines:
        cell = float(
            max(
                52,
                count_width + 16,
                _width(fm["share"], "100%") + 16,
                math.ceil(fm["count"].height() + fm["share"].height()) + 14,
            )
        )
    else:
        cell = float(max(line + 4, count_width + 6))

    limit = fm["label"].averageCharWidth() * LABEL_CHARS
    shown = [fm["label"].elidedText(n, Qt.TextElideMode.ElideMiddle, limit) for n in scores.labels]
    widths = [_width(fm["label"], s) for s in shown]
    label_width = max(widths, default=0)

    y = float(MARGIN)
    title_text = title or "Confusion matrix"
    title_box = TextBox(
        title_text,
        title_text,
        QRectF(MARGIN, y, _width(fm["title"], title_text), math.ceil(fm["title"].height())),
    )
    y = title_box.rect.bottom() + 2
    summary_text = (
        f"Accuracy {scores.accuracy:.1%} · macro-F1 {scores.macro_f1:.3f} · {scores.n:,} texts"
    )
    summary = TextBox(
        summary_text,
        summary_text,
        QRectF(MARGIN, y, _width(fm["text"], summary_text), math.ceil(fm["text"].height())),
    )
    y = summary.rect.bottom() + 2 * GAP
    axis_h = math.ceil(fm["axis"].height())
    predicted_y = y
    grid_top = predicted_y + axis_h + GAP + label_width + GAP
    grid_left = float(MARGIN + axis_h + GAP + label_width + GAP)
    side = cell * k
    grid = QRectF(grid_left, grid_top, side, side)

    predicted_w = _width(fm["axis"], PREDICTED_AXIS)
    predicted_axis = TextBox(
        PREDICTED_AXIS,
        PREDICTED_AXIS,
        QRectF(max(MARGIN, grid.center().x() - predicted_w / 2), predicted_y, predicted_w, axis_h),
    )
    gold_w = _width(fm["axis"], GOLD_AXIS)
    gold_axis = TextBox(
        GOLD_AXIS,
        GOLD_AXIS,
        QRectF(MARGIN, max(grid_top, grid.center().y() - gold_w / 2), axis_h, gold_w),
        vertical=True,
    )
    rows = tuple(
        TextBox(
            s,
            full,
            QRectF(grid_left - GAP - w, grid_top + i * cell + (cell - line) / 2, w, line),
        )
        for i, (s, full, w) in enumerate(zip(shown, scores.labels, widths, strict=True))
    )
    columns = tuple(
        TextBox(
            s,
            full,
            QRectF(grid_left + j * cell + (cell - line) / 2, grid_top - GAP - w, line, w),
            vertical=True,
        )
        for j, (s, full, w) in enumerate(zip(shown, scores.labels, widths, strict=True))
    )

    legend_y = max(grid.bottom(), gold_axis.rect.bottom()) + 2 * GAP
    caption = "Share of the gold row:"
    text_h = math.ceil(fm["text"].height())
    caption_box = TextBox(
        caption, caption, QRectF(MARGIN, legend_y, _width(fm["text"], caption), text_h)
    )
    low_x = caption_box.rect.right() + GAP
    low = TextBox("0%", "0%", QRectF(low_x, legend_y, _width(fm["text"], "0%"), text_h))
    legend = QRectF(low.rect.right() + GAP, legend_y + 2, 160, text_h - 4)
    high = TextBox(
        "100%",
        "100%",
        QRectF(legend.right() + GAP, legend_y, _width(fm["text"], "100%"), text_h),
    )
    right = max(
        grid.right(),
        title_box.rect.right(),
        summary.rect.right(),
        predicted_axis.rect.right(),
        high.rect.right(),
    )
    return MatrixLayout(
        scores=scores,
        width=math.ceil(right + MARGIN),
        height=math.ceil(legend_y + text_h + MARGIN),
        cell=cell,
        grid=grid,
        fonts=fonts,
        title=title_box,
        summary=summary,
        gold_axis=gold_axis,
        predicted_axis=predicted_axis,
        rows=rows,
        columns=columns,
        legend=legend,
        legend_texts=(caption_box, low, high),
        two_lines=two_lines,
    )


# --- colours -----------------------------------------------------------------------------


def _luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def cell_fill(share: float, palette: QPalette) -> QColor:
    """The palette's base colour at 0, its highlight at 1; any count at all shows a tint."""
    base = palette.color(QPalette.ColorRole.Base)
    high = palette.color(QPalette.ColorRole.Highlight)
    t = 0.0 if share <= 0 else 0.12 + 0.88 * min(1.0, share)
    return QColor.fromRgbF(
        base.redF() + (high.redF() - base.redF()) * t,
        base.greenF() + (high.greenF() - base.greenF()) * t,
        base.blueF() + (high.blueF() - base.blueF()) * t,
    )


def cell_text(fill: QColor, palette: QPalette) -> QColor:
    """The palette text colour that reads best on a fill; black or white if none reads well."""
    roles = (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.HighlightedText,
        QPalette.ColorRole.Base,
    )
    best = max((palette.color(r) for r in roles), key=lambda c: contrast(c, fill))
    if contrast(best, fill) < MIN_CONTRAST:
        black, white = QColor(Qt.GlobalColor.black), QColor(Qt.GlobalColor.white)
        best = black if contrast(black, fill) >= contrast(white, fill) else white
    return best


def grid_colour(palette: QPalette) -> QColor:
    """The lines between cells: the base colour a fifth of the way to the text colour."""
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    return QColor.fromRgbF(
        base.redF() * 0.8 + text.redF() * 0.2,
        base.greenF() * 0.8 + text.greenF() * 0.2,
        base.blueF() * 0.8 + text.blueF() * 0.2,
    )


# --- painting ----------------------------------------------------------------------------


def _draw_text(painter: QPainter, box: TextBox, align: Qt.AlignmentFlag) -> None:
    if not box.vertical:
        painter.drawText(box.rect, int(align | Qt.AlignmentFlag.AlignVCenter), box.text)
        return
    painter.save()
    painter.translate(box.rect.left(), box.rect.bottom())
    painter.rotate(-90)
    local = QRectF(0, 0, box.rect.height(), box.rect.width())
    painter.drawText(local, int(align | Qt.AlignmentFlag.AlignVCenter), box.text)
    painter.restore()


def paint_matrix(painter: QPainter, layout: MatrixLayout, palette: QPalette) -> None:
    """Draw the whole picture at picture coordinates (scale the painter to zoom)."""
    left = Qt.AlignmentFlag.AlignLeft
    scores = layout.scores
    text = palette.color(QPalette.ColorRole.Text)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.fillRect(
        QRectF(0, 0, layout.width, layout.height), palette.color(QPalette.ColorRole.Base)
    )
    painter.setPen(text)
    painter.setFont(layout.fonts["title"])
    _draw_text(painter, layout.title, left)
    painter.setFont(layout.fonts["text"])
    _draw_text(painter, layout.summary, left)
    paint_row_names(painter, layout)
    paint_column_names(painter, layout)

    k = len(scores.labels)
    for gold in range(k):
        for predicted in range(k):
            share = scores.row_share(gold, predicted)
            painter.fillRect(layout.cell_rect(gold, predicted), cell_fill(share, palette))
    _paint_grid(painter, layout, palette)
    for gold in range(k):
        for predicted in range(k):
            _paint_cell_text(painter, layout, palette, gold, predicted)

    painter.setPen(text)
    painter.setFont(layout.fonts["text"])
    for box in layout.legend_texts:
        _draw_text(painter, box, left)
    gradient = QLinearGradient(layout.legend.topLeft(), layout.legend.topRight())
    for stop in (0.0, 0.25, 0.5, 0.75, 1.0):
        gradient.setColorAt(stop, cell_fill(stop, palette))
    painter.fillRect(layout.legend, gradient)
    painter.setPen(QPen(grid_colour(palette), 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(layout.legend)


def paint_row_names(painter: QPainter, layout: MatrixLayout) -> None:
    """The gold axis title and the row names (the window keeps them in view when scrolled)."""
    painter.setFont(layout.fonts["axis"])
    _draw_text(painter, layout.gold_axis, Qt.AlignmentFlag.AlignLeft)
    painter.setFont(layout.fonts["label"])
    for box in layout.rows:
        _draw_text(painter, box, Qt.AlignmentFlag.AlignRight)


def paint_column_names(painter: QPainter, layout: MatrixLayout) -> None:
    """The predicted axis title and the column names, in the painter's pen."""
    painter.setFont(layout.fonts["axis"])
    _draw_text(painter, layout.predicted_axis, Qt.AlignmentFlag.AlignLeft)
    painter.setFont(layout.fonts["label"])
    for box in layout.columns:
        _draw_text(painter, box, Qt.AlignmentFlag.AlignLeft)


def _paint_grid(painter: QPainter, layout: MatrixLayout, palette: QPalette) -> None:
    k = len(layout.scores.labels)
    grid = layout.grid
    painter.setPen(QPen(grid_colour(palette), 1))
    for i in range(k + 1):
        offset = i * layout.cell
        painter.drawLine(
            QPointF(grid.left(), grid.top() + offset), QPointF(grid.right(), grid.top() + offset)
        )
        painter.drawLine(
            QPointF(grid.left() + offset, grid.top()), QPointF(grid.left() + offset, grid.bottom())
        )
    # The diagonal (right answers) is outlined in the text colour, so it is found at a glance.
    painter.setPen(QPen(palette.color(QPalette.ColorRole.Text), 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for i in range(k):
        painter.drawRect(layout.cell_rect(i, i).adjusted(1, 1, -1, -1))


def _paint_cell_text(
    painter: QPainter, layout: MatrixLayout, palette: QPalette, gold: int, predicted: int
) -> None:
    count = layout.scores.confusion[gold][predicted]
    if not count and not layout.two_lines:
        return
    rect = layout.cell_rect(gold, predicted)
    share = layout.scores.row_share(gold, predicted)
    painter.setPen(cell_text(cell_fill(share, palette), palette))
    centre = Qt.AlignmentFlag.AlignCenter
    count_font = layout.fonts["count"]
    if QFontMetricsF(count_font).horizontalAdvance(str(count)) > rect.width() - 2:
        return  # the tooltip still has it
    if not layout.two_lines:
        painter.setFont(count_font)
        painter.drawText(rect, int(centre), str(count))
        return
    count_font = QFont(count_font)
    count_font.setBold(share >= 0.5)
    centre_h = Qt.AlignmentFlag.AlignHCenter
    top, bottom = QRectF(rect), QRectF(rect)
    top.setBottom(rect.center().y() + 2)
    bottom.setTop(rect.center().y() + 2)
    painter.setFont(count_font)
    painter.drawText(
        top, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom), str(count)
    )
    if sum(layout.scores.confusion[gold]):
        painter.setFont(layout.fonts["share"])
        painter.drawText(bottom, int(centre_h | Qt.AlignmentFlag.AlignTop), f"{share:.0%}")


# --- offscreen ---------------------------------------------------------------------------

_OFFSCREEN: list[QGuiApplication] = []
"""The application this module created, kept alive: Qt allows one per process."""


def offscreen_application() -> QGuiApplication:
    """The running Qt application, or a new one on the offscreen platform (no window, no display).

    Painting text needs an application object (it owns the font database); the command
    line has none, so it makes one here, whatever ``QT_QPA_PLATFORM`` says.
    """
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        return app
    _OFFSCREEN.append(QGuiApplication(["driftless", "-platform", "offscreen"]))
    return _OFFSCREEN[0]


def render_matrix(
    scores: Scores,
    title: str = "",
    *,
    palette: QPalette | None = None,
    font: QFont | None = None,
    scale: float = 1.0,
) -> QImage:
    """The picture as an image (needs a QGuiApplication, which may be offscreen)."""
    palette = palette if palette is not None else QGuiApplication.palette()
    layout = layout_matrix(scores, title, font)
    image = QImage(
        math.ceil(layout.width * scale),
        math.ceil(layout.height * scale),
        QImage.Format.Format_RGB32,
    )
    image.fill(palette.color(QPalette.ColorRole.Base))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(scale, scale)
    paint_matrix(painter, layout, palette)
    painter.end()
    return image


def matrix_svg(scores: Scores, title: str = "", *, palette: QPalette | None = None) -> bytes:
    from PySide6.QtSvg import QSvgGenerator

    palette = palette if palette is not None else QGuiApplication.palette()
    layout = layout_matrix(scores, title)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(layout.size)
    generator.setViewBox(QRect(0, 0, layout.width, layout.height))
    generator.setResolution(96)
    generator.setTitle(title or "Confusion matrix")
    painter = QPainter(generator)
    paint_matrix(painter, layout, palette)
    painter.end()
    return bytes(buffer.data().data())


def matrix_png(scores: Scores, title: str = "", *, palette: QPalette | None = None) -> bytes:
    image = render_matrix(scores, title, palette=palette)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not QImageWriter(buffer, QByteArray(b"png")).write(image):
        raise OSError("Qt could not encode the confusion matrix as a PNG.")
    buffer.close()
    return bytes(data.data())


def write_matrix(path: Path, scores: Scores, title: str = "") -> None:
    """Write the picture; ``.svg`` gives an SVG, anything else a PNG."""
    data = (
        matrix_svg(scores, title)
        if Path(path).suffix.casefold() == ".svg"
        else matrix_png(scores, title)
    )
    atomic_write_bytes(Path(path), data)
