"""The four tabs of the Classify page, laid out; the page wires them to the controller."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui.classify.matrix import ConfusionMatrixView
from app.ui.classify.models import ProbabilityBars, ResultColumn, ResultsModel


def _wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _progress_bar() -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setValue(0)
    bar.setTextVisible(True)
    return bar


class TryTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText("Type or paste a text; its label appears as you type.")
        self.text_edit.setAccessibleName("Text to classify")
        self.text_edit.setFixedHeight(110)
        self.classify_button = QPushButton("Classify")
        self.answer_label = QLabel("—")
        font = self.answer_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.answer_label.setFont(font)
        self.detail_label = _wrapping_label()
        self.bars = ProbabilityBars()
        row = QHBoxLayout()
        row.addWidget(self.answer_label, 1)
        row.addWidget(self.classify_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_edit)
        layout.addLayout(row)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.bars)
        layout.addStretch(1)


class FileTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton("Classify a file…")
        self.open_button.setToolTip("Classify every row of a CSV or TSV file")
        self.cluster_button = QPushButton("Run on a cluster…")
        self.cluster_button.setToolTip(
            "Classify every row of a file on the Ray cluster set in Settings: the same "
            "model, label set and method, the same results"
        )
        self.cluster_button.hide()  # shown when Settings name a cluster
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export CSV…")
        self.evaluate_button = QPushButton("Evaluate this run…")
        self.evaluate_button.setToolTip(
            "Score the stored predictions against the file's gold column; nothing is "
            "classified again"
        )
        self.progress = _progress_bar()
        self.rate_label = QLabel()
        self.summary_label = _wrapping_label("Choose a CSV or TSV file with a text column.")
        self.problems_label = _wrapping_label()
        self.problems_label.hide()
        self.model = ResultsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Results")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(ResultColumn.TEXT, QHeaderView.ResizeMode.Stretch)
        for column in (ResultColumn.LINE, ResultColumn.CONFIDENCE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Rows arrive while the tab may be hidden: size the answer for its longest value.
        metrics = self.table.fontMetrics()
        header.resizeSection(ResultColumn.ANSWER, metrics.horizontalAdvance("needs review") + 24)
        header.resizeSection(ResultColumn.GOLD, metrics.horizontalAdvance("needs review") + 24)
        self.table.verticalHeader().setDefaultSectionSize(metrics.height() + 8)
        buttons = QHBoxLayout()
        buttons_row = (self.open_button, self.cluster_button, self.pause_button, self.cancel_button)
        for button in buttons_row:
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.export_button)
        progress = QHBoxLayout()
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.rate_label)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(progress)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.table, 1)


class EvaluateTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton("Evaluate on a file…")
        self.open_button.setToolTip("A CSV or TSV file with a text column and a gold label column")
        self.cancel_button = QPushButton("Cancel")
        self.progress = _progress_bar()
        self.summary_label = _wrapping_label(
            "Choose a file with gold labels to measure accuracy and see the confusion matrix."
        )
        self.matrix = ConfusionMatrixView()
        self.compare_label = _wrapping_label()
        self.compare_label.setAccessibleName("Comparison with earlier evaluations")
        self.compare_label.hide()
        scroll = QScrollArea()
        scroll.setAccessibleName("Evaluation results")
        scroll.setWidgetResizable(True)
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.addWidget(self.summary_label)
        outer.addWidget(self.compare_label)
        outer.addStretch(1)
        scroll.setWidget(body)
        # The numbers on the left, the matrix (scrolled and zoomed on its own) beside them.
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(self.matrix)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.splitter, 1)


class TeachTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton("Teach from a labelled file…")
        self.open_button.setToolTip(
            "A CSV or TSV file with a text column and a label column; "
            "the taught head is saved for this label set and model"
        )
        self.cancel_button = QPushButton("Cancel")
        self.progress = _progress_bar()
        self.result_label = _wrapping_label(
            "Teach the model your labels from examples, then choose "
            "'Taught by examples' as the method."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addStretch(1)
