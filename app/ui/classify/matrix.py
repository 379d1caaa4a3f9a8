"""The confusion matrix in the window: the picture of :mod:`.confusion`, scrolled and zoomed.

Ctrl+wheel, the − and + buttons, Ctrl+plus/minus zoom; **Fit** shows the whole
matrix; **Actual size** the picture at its own size. Hovering a cell names its gold and
predicted labels with the count and the row share; hovering an elided label
gives its whole name. The picture is painted at each paint from the widget's own
palette, so a switch between light and dark shows at once.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QHelpEvent, QKeySequence, QPainter, QPaintEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
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
from app.ui.matrix_picture import MatrixLayout, layout_matrix, paint_matrix

MIN_ZOOM = 0.1
MAX_ZOOM = 4.0
ZOOM_STEP = 1.25


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


class ConfusionMatrixView(QWidget):
    """Zoom buttons over a scroll area holding the matrix."""

    zoom_changed = Signal(float)

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
        self.zoom_out_button = self._button(
            "−", "Zoom out (Ctrl+minus)", QKeySequence.StandardKey.ZoomOut
        )
        self.zoom_in_button = self._button(
            "+", "Zoom in (Ctrl+plus, Ctrl+wheel)", QKeySequence.StandardKey.ZoomIn
        )
        self.fit_button = self._button("Fit", "Show the whole matrix")
        self.actual_button = self._button("Actual size", "The picture at its own size")
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

    # --- events ----------------------------------------------------------------------

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

    def _enable(self) -> None:
        shown = self.scores is not None
        self.zoom_in_button.setEnabled(shown and self._zoom < MAX_ZOOM)
        self.zoom_out_button.setEnabled(shown and self._zoom > MIN_ZOOM)
        self.fit_button.setEnabled(shown)
        self.actual_button.setEnabled(shown)
