"""The confusion matrix in the window: the picture of :mod:`.confusion`, scrolled and zoomed.

Ctrl+wheel, the − and + buttons, Ctrl+plus/minus zoom; **Fit** shows the whole
matrix; **Actual size** the picture at its own size; **Save picture…** writes it as a
PNG or an SVG (the command line's ``--confusion-png`` code). Scrolled, the row and
column names stay in view: they are painted again, frozen at the view's edges, over
the cells that scrolled under them. Hovering a cell names its gold and predicted labels
with the count and the row share; hovering an elided label gives its whole name. The
picture is painted at each paint from the widget's own palette, so a switch between
light and dark shows at once.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import (
    QFontMetrics,
    QHelpEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import Scores
from app.ui.matrix_picture import (
    GOLD_AXIS,
    PREDICTED_AXIS,
    MatrixLayout,
    grid_colour,
    layout_matrix,
    paint_column_names,
    paint_matrix,
    paint_row_names,
    write_matrix,
)

MIN_ZOOM = 0.1
MAX_ZOOM = 4.0
ZOOM_STEP = 1.25
PICTURE_FILTERS = {"PNG image (*.png)": ".png", "SVG drawing (*.svg)": ".svg"}


class MatrixCanvas(QWidget):
    """Paints one layout at one zoom; its size is the picture's size times the zoom."""

    zoom_requested = Signal(float, QPoint)
    """Ctrl+wheel: a zoom factor and the point (in this widget) that should stay put."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_: MatrixLayout | None = None
        self.zoom = 1.0
        self.setAccessibleName("Confusion matrix")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def set_layout(self, layout: MatrixLayout | None, zoom: float) -> None:
        self.layout_ = layout
        self.zoom = zoom
        self.resize(self.sizeHint())
        self.update()

    def sizeHint(self) -> QSize:
        if self.layout_ is None:
            return QSize(0, 0)
        return QSize(round(self.layout_.width * self.zoom), round(self.layout_.height * self.zoom))

    def picture_point(self, point: QPointF) -> QPointF:
        return QPointF(point.x() / self.zoom, point.y() / self.zoom)

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.layout_ is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(self.zoom, self.zoom)
        paint_matrix(painter, self.layout_, self.palette())
        painter.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = (
                self.layout_.tooltip_at(self.picture_point(QPointF(event.pos())))
                if self.layout_ is not None
                else None
            )
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            event.ignore()  # the scroll area scrolls
            return
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_requested.emit(ZOOM_STEP**steps, event.position().toPoint())
        event.accept()


class FrozenNames(QWidget):
    """The row or column names (or the blank corner where they meet), kept at the edge of
    the scrolled view: painted from the canvas's layout at its zoom, following the scroll
    along the names and frozen across them."""

    def __init__(self, canvas: MatrixCanvas, which: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.which = which
        """"rows" (gold names, frozen at the left), "columns" (at the top) or "corner"."""
        self.setAccessibleName(
            {"rows": "Gold labels", "columns": "Predicted labels"}.get(which, "Corner")
        )
        self.hide()

    def origin(self) -> QPointF:
        """Where the picture's top-left corner is, in this widget's coordinates."""
        layout, zoom = self.canvas.layout_, self.canvas.zoom
        if layout is None:
            return QPointF()
        x = 0.0 if self.which == "rows" else float(self.canvas.x() - self.x())
        y = float(self.canvas.y() - self.y()) if self.which == "rows" else -layout.names_top * zoom
        return QPointF(x, y)

    def paintEvent(self, event: QPaintEvent) -> None:
        layout = self.canvas.layout_
        painter = QPainter(self)
        palette = self.canvas.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        if layout is not None and self.which != "corner":
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.translate(self.origin())
            painter.scale(self.canvas.zoom, self.canvas.zoom)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            if self.which == "rows":
                paint_row_names(painter, layout)
            else:
                paint_column_names(painter, layout)
            painter.restore()
        elif layout is not None:
            self._paint_corner(painter, layout, palette)
        # A line where the frozen names meet the scrolled cells.
        painter.setPen(QPen(grid_colour(palette), 1))
        edge = self.rect()
        if self.which in ("rows", "corner"):
            painter.drawLine(edge.topRight(), edge.bottomRight())
        if self.which in ("columns", "corner"):
            painter.drawLine(edge.bottomLeft(), edge.bottomRight())
        painter.end()

    def _paint_corner(self, painter: QPainter, layout: MatrixLayout, palette: QPalette) -> None:
        """Which names are which, where the two frozen bands meet (when the words fit)."""
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.setFont(layout.fonts["axis"])
        metrics = QFontMetrics(layout.fonts["axis"])
        inner = self.rect().adjusted(4, 4, -6, -6)
        words = (f"{PREDICTED_AXIS} →", f"{GOLD_AXIS} ↓")
        fits = max(metrics.horizontalAdvance(w) for w in words) <= inner.width()
        if fits and 2 * metrics.height() <= inner.height():
            right = Qt.AlignmentFlag.AlignRight
            painter.drawText(inner, int(right | Qt.AlignmentFlag.AlignTop), words[0])
            painter.drawText(inner, int(right | Qt.AlignmentFlag.AlignBottom), words[1])

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            layout, zoom = self.canvas.layout_, self.canvas.zoom
            point = (QPointF(event.pos()) - self.origin()) / zoom
            tip = layout.tooltip_at(point) if layout is not None else None
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)


class PictureFileDialog:
    """Where to save the matrix's picture; the file's ending says PNG or SVG."""

    @classmethod
    def ask_save(cls, parent: QWidget, suggested: Path) -> Path | None:
        name, chosen = QFileDialog.getSaveFileName(
            parent, "Save the confusion matrix", str(suggested), ";;".join(PICTURE_FILTERS)
        )
        if not name:
            return None
        path = Path(name)
        if path.suffix.casefold() not in (".png", ".svg"):
            path = path.with_name(path.name + PICTURE_FILTERS.get(chosen, ".png"))
        return path


class ConfusionMatrixView(QWidget):
    """Zoom buttons over a scroll area holding the matrix."""

    zoom_changed = Signal(float)
    status_changed = Signal(str)
    """A sentence for the page's status line: where the picture was saved, or why not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scores: Scores | None = None
        self.title = ""
        self._zoom = 1.0
        self._fit_pending = False
        self.canvas = MatrixCanvas()
        self.canvas.zoom_requested.connect(self._on_canvas_zoom_requested)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(False)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.scroll_area.setWidget(self.canvas)
        self.scroll_area.setAccessibleName("Confusion matrix")
        viewport = self.scroll_area.viewport()
        self.frozen_rows = FrozenNames(self.canvas, "rows", viewport)
        self.frozen_columns = FrozenNames(self.canvas, "columns", viewport)
        self.frozen_corner = FrozenNames(self.canvas, "corner", viewport)
        viewport.installEventFilter(self)
        for scroll_bar in (
            self.scroll_area.horizontalScrollBar(),
            self.scroll_area.verticalScrollBar(),
        ):
            scroll_bar.valueChanged.connect(self._place_frozen)
            scroll_bar.rangeChanged.connect(self._place_frozen)
        self.zoom_out_button = self._button(
            "−", "Zoom out (Ctrl+minus)", QKeySequence.StandardKey.ZoomOut
        )
        self.zoom_in_button = self._button(
            "+", "Zoom in (Ctrl+plus, Ctrl+wheel)", QKeySequence.StandardKey.ZoomIn
        )
        self.fit_button = self._button("Fit", "Show the whole matrix")
        self.actual_button = self._button("Actual size", "The picture at its own size")
        self.save_button = self._button("Save picture…", "Save the matrix as a PNG or SVG file")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.zoom_out_button.clicked.connect(self.zoom_out)
        self.zoom_in_button.clicked.connect(self.zoom_in)
        self.fit_button.clicked.connect(self.fit)
        self.actual_button.clicked.connect(self._on_actual_clicked)
        self.zoom_label = QLabel("100%")
        self.zoom_label.setAccessibleName("Zoom")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.zoom_out_button,
            self.zoom_label,
            self.zoom_in_button,
            self.fit_button,
            self.actual_button,
        ):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.scroll_area, 1)
        self._enable()

    def _button(
        self, text: str, tip: str, shortcut: QKeySequence.StandardKey | None = None
    ) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAccessibleName(tip.split(" (")[0])
        if shortcut is not None:
            button.setShortcut(QKeySequence(shortcut))
        return button

    # --- public ----------------------------------------------------------------------

    def set_scores(self, scores: Scores, title: str = "") -> None:
        """Show a matrix, fitted to the view when it is bigger (never enlarged past 100%)."""
        self.scores = scores
        self.title = title
        self._relayout()
        if self.isVisible():
            self.fit(enlarge=False)
        else:  # the viewport has no size yet: fit when it has one
            self.set_zoom(1.0)
            self._fit_pending = True

    def clear(self) -> None:
        self.scores = None
        self._fit_pending = False
        self.canvas.set_layout(None, self._zoom)
        self._enable()
        self._place_frozen()

    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, anchor: QPoint | None = None) -> None:
        """Zoom, keeping the picture point under ``anchor`` (canvas coordinates) in place."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        old = self._zoom
        bars = (self.scroll_area.horizontalScrollBar(), self.scroll_area.verticalScrollBar())
        if anchor is None:
            viewport = self.scroll_area.viewport().rect().center()
            anchor = self.canvas.mapFrom(self.scroll_area.viewport(), viewport)
        in_view = (anchor.x() - bars[0].value(), anchor.y() - bars[1].value())
        self._zoom = zoom
        self.canvas.set_layout(self.canvas.layout_, zoom)
        factor = zoom / old
        bars[0].setValue(round(anchor.x() * factor - in_view[0]))
        bars[1].setValue(round(anchor.y() * factor - in_view[1]))
        self.zoom_label.setText(f"{zoom:.0%}")
        self._enable()
        self._place_frozen()
        if zoom != old:
            self.zoom_changed.emit(zoom)

    @Slot()
    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    @Slot()
    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    @Slot()
    def fit(self, *, enlarge: bool = True) -> None:
        layout = self.canvas.layout_
        if layout is None:
            return
        view = self.scroll_area.viewport().size()
        fitted = min(view.width() / layout.width, view.height() / layout.height)
        self.set_zoom(fitted if enlarge else min(1.0, fitted))

    def save_picture(self, path: Path) -> bool:
        """Write the matrix as shown (PNG, or SVG for a ``.svg`` path); says so on the
        status line. False when it could not be written."""
        if self.scores is None:
            return False
        try:
            write_matrix(path, self.scores, self.title)
        except OSError as exc:
            self.status_changed.emit(f"The picture was not saved: {exc}")
            return False
        self.status_changed.emit(f"Saved the confusion matrix to {path}.")
        return True

    # --- events ----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.scroll_area.viewport() and event.type() == QEvent.Type.Resize:
            self._place_frozen()
        return super().eventFilter(watched, event)

    @Slot()
    def _place_frozen(self) -> None:
        """Show the names that scrolled out of view at the view's left and top edges."""
        frozen = (self.frozen_rows, self.frozen_columns, self.frozen_corner)
        layout = self.canvas.layout_
        if layout is None:
            for widget in frozen:
                widget.hide()
            return
        zoom, at = self._zoom, self.canvas.pos()
        view = self.scroll_area.viewport().rect()
        names_w = math.ceil(layout.grid.left() * zoom)
        names_h = math.ceil((layout.grid.top() - layout.names_top) * zoom)
        rows_shown = at.x() < 0  # the row names scrolled (partly) off to the left
        columns_shown = at.y() + layout.names_top * zoom < 0  # the column names off the top
        top = names_h if columns_shown else 0
        rows_top = max(top, at.y() + math.ceil(layout.grid.top() * zoom))
        self.frozen_rows.setGeometry(QRect(0, rows_top, names_w, view.height() - rows_top))
        self.frozen_rows.setVisible(rows_shown and rows_top < view.height())
        left = max(names_w if rows_shown else 0, at.x() + names_w)
        self.frozen_columns.setGeometry(QRect(left, 0, view.width() - left, names_h))
        self.frozen_columns.setVisible(columns_shown and left < view.width())
        self.frozen_corner.setGeometry(QRect(0, 0, left, names_h))
        self.frozen_corner.setVisible(columns_shown and left > 0)
        for widget in frozen:
            widget.raise_()
            widget.update()

    @Slot()
    def _on_save_button_clicked(self) -> None:
        name = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.title)
        suggested = Path.home() / f"confusion-matrix{'-' + name if name else ''}.png"
        path = PictureFileDialog.ask_save(self, suggested)
        if path is not None:
            self.save_picture(path)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and self.scores is not None:
            self._relayout()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit_pending and self.isVisible():
            self._fit_pending = False
            self.fit(enlarge=False)

    @Slot()
    def _on_actual_clicked(self) -> None:
        self.set_zoom(1.0)

    @Slot(float, QPoint)
    def _on_canvas_zoom_requested(self, factor: float, anchor: QPoint) -> None:
        self.set_zoom(self._zoom * factor, anchor)

    def _relayout(self) -> None:
        if self.scores is None:
            return
        self.canvas.set_layout(layout_matrix(self.scores, self.title, self.font()), self._zoom)
        self._enable()
        self._place_frozen()

    def _enable(self) -> None:
        shown = self.scores is not None
        self.zoom_in_button.setEnabled(shown and self._zoom < MAX_ZOOM)
        self.zoom_out_button.setEnabled(shown and self._zoom > MIN_ZOOM)
        self.fit_button.setEnabled(shown)
        self.actual_button.setEnabled(shown)
        self.save_button.setEnabled(shown)
