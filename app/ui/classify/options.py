"""The Classify page's two small dialogs: how to score, and which columns of a file to read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import (
    ClassifyError,
    Columns,
    LabelSet,
    MethodOptions,
    gold_values,
    survey_gold,
)
from app.core.classify.from_column import labels_from_counts
from app.core.classify.prompt import PromptStyle
from app.core.classify.table import preview
from app.ui.classify.goldmap import GoldMapEditor
from app.ui.tasks import Task

PREVIEW_ROWS = 5
STYLES: tuple[tuple[str, PromptStyle], ...] = (
    ("Plain completion (Text: … / Label: …)", "plain"),
    ("The model's chat template", "chat"),
)


@dataclass(frozen=True)
class ScoringOptions:
    """What the options dialog edits (MethodOptions' defaults); the page adds the method."""

    style: PromptStyle = MethodOptions.style
    few_shot: bool = MethodOptions.few_shot
    calibrated: bool = MethodOptions.calibrated
    threshold: float = MethodOptions.threshold
    unpack: bool = True
    """Score on a 16-bit copy of a small model's weights (a saved setting)."""


class OptionsDialog(QDialog):
    def __init__(self, options: ScoringOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Classification options")
        self.style_combo = QComboBox()
        for title, style in STYLES:
            self.style_combo.addItem(title, style)
        self.style_combo.setCurrentIndex(max(0, self.style_combo.findData(options.style)))
        self.few_shot = QCheckBox("Show the model the label set's example texts (few-shot)")
        self.few_shot.setChecked(options.few_shot)
        self.calibrated = QCheckBox("Calibrate against content-free input")
        self.calibrated.setChecked(options.calibrated)
        self.calibrated.setToolTip(
            "Scores 'N/A', an empty text and '[MASK]' first, so that no label wins just "
            "because the model likes its word (Zhao et al. 2021)"
        )
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(options.threshold)
        self.threshold.setToolTip('Below this confidence the answer is "needs review"')
        self.unpack = QCheckBox("Score on a 16-bit copy of small models' weights")
        self.unpack.setChecked(options.unpack)
        note = QLabel(
            "About twice as fast for batches on most small models. The copy is made once, "
            "takes about 2.7 times the model file's size on disk, and scores almost exactly "
            "like the file itself; results name the weights that produced them."
        )
        note.setWordWrap(True)
        prompt_note = QLabel(
            "These apply to prompted scoring; a taught head always uses the prompt it was "
            "taught with."
        )
        prompt_note.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Prompt", self.style_combo)
        form.addRow("", self.few_shot)
        form.addRow("", self.calibrated)
        form.addRow("", prompt_note)
        form.addRow("Needs review below", self.threshold)
        form.addRow("Speed", self.unpack)
        form.addRow("", note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    def edited(self) -> ScoringOptions:
        return ScoringOptions(
            style=self.style_combo.currentData(),
            few_shot=self.few_shot.isChecked(),
            calibrated=self.calibrated.isChecked(),
            threshold=round(self.threshold.value(), 2),
            unpack=self.unpack.isChecked(),
        )

    @classmethod
    def ask(cls, parent: QWidget, options: ScoringOptions) -> ScoringOptions | None:
        dialog = cls(options, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.edited()


class ColumnsDialog(QDialog):
    """Which column holds the texts, which the gold labels, and which label each gold value is.

    With a label set (evaluating, teaching), the gold column's values are counted and
    shown with the label each one is: by name, or a marked guess the person confirms.
    Counting reads the whole file, so it runs in the background (OK waits for it), and
    choosing another column cancels the count in progress; ``values_counted`` follows.
    """

    values_counted = Signal()
    label_set_made = Signal(object)
    """A LabelSet made from the gold column's values ("Make a label set from…")."""

    def __init__(
        self,
        columns: Columns,
        *,
        need_gold: bool,
        label_set: LabelSet | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.label_set = label_set
        self.setWindowTitle(f"Columns of {columns.table.path.name}")
        self.columns = columns
        self.need_gold = need_gold
        names = columns.table.columns
        self.text_combo = QComboBox()
        self.gold_combo = QComboBox()
        if not need_gold:
            self.gold_combo.addItem("(none)", -1)
        for index, name in enumerate(names):
            shown = name.strip() or f"column {index + 1}"
            self.text_combo.addItem(shown, index)
            self.gold_combo.addItem(shown, index)
        self.text_combo.setCurrentIndex(self.text_combo.findData(columns.text))
        gold = columns.gold if columns.gold is not None else -1
        self.gold_combo.setCurrentIndex(max(0, self.gold_combo.findData(gold)))
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self._count_task: Task | None = None
        self.gold_editor = GoldMapEditor()
        self.gold_editor.setVisible(label_set is not None)
        self._counted: list[str] = []
        self.make_labels_button = QPushButton("Make a label set from this column's values")
        self.make_labels_button.setToolTip(
            "A new label set whose labels are the distinct values of the gold column"
        )
        self.make_labels_button.setVisible(label_set is not None)
        self.make_labels_button.setEnabled(False)
        self.make_labels_button.clicked.connect(self._on_make_labels_button_clicked)
        self.preview = _preview_table(columns)
        form = QFormLayout()
        form.addRow("Texts are in", self.text_combo)
        form.addRow("Gold labels are in", self.gold_combo)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        # How the file was read is shown, so a wrong delimiter or encoding is seen here.
        self.reading_label = QLabel(
            f"The first rows of {columns.table.path.name}, read as {columns.table.described}:"
        )
        self.reading_label.setWordWrap(True)
        layout.addWidget(self.reading_label)
        layout.addWidget(self.preview, 1)
        layout.addLayout(form)
        layout.addWidget(self.gold_editor)
        layout.addWidget(self.make_labels_button)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.gold_combo.currentIndexChanged.connect(self._on_gold_combo_changed)
        self._on_gold_combo_changed()
        self.resize(640, 500 if label_set is not None else 360)

    @property
    def counting(self) -> bool:
        return self._count_task is not None

    @Slot()
    def _on_gold_combo_changed(self) -> None:
        if self.label_set is None:
            return
        if self._count_task is not None:
            self._count_task.cancel()
            self._count_task = None
        gold = self.gold_combo.currentData()
        self.error_label.clear()
        self.gold_editor.show_values([], self.label_set)
        self.make_labels_button.setEnabled(False)
        if gold is None or gold < 0:
            self._set_counting(False)
            return
        columns = Columns(self.columns.table, self.text_combo.currentData(), gold)
        task = Task(lambda t: gold_values(columns, t.cancel_token), self)
        task.succeeded.connect(self._on_count_succeeded)
        task.failed.connect(self._on_count_failed)
        self._count_task = task
        self._set_counting(True)
        task.start()

    def _set_counting(self, counting: bool) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not counting)
        if counting:
            self.error_label.setText("Counting the values in the gold column…")

    @Slot(object)
    def _on_count_succeeded(self, values: object) -> None:
        if self.sender() is not self._count_task or self.label_set is None:
            return  # a count for a column no longer chosen
        self._count_task = None
        self._set_counting(False)
        self.error_label.clear()
        assert isinstance(values, list)
        self._counted = values
        self.make_labels_button.setEnabled(bool(values))
        self.gold_editor.show_values(survey_gold(values, self.label_set), self.label_set)
        self.values_counted.emit()

    @Slot()
    def _on_make_labels_button_clicked(self) -> None:
        column = self.gold_combo.currentText()
        try:
            made = labels_from_counts(
                Counter(self._counted), f"{self.columns.table.path.stem}-{column}"
            )
        except ClassifyError as exc:
            self.error_label.setText(str(exc))
            return
        self.label_set = made.label_set
        self.gold_editor.show_values(survey_gold(self._counted, made.label_set), made.label_set)
        self.error_label.setText(f"Made the label set {made.label_set.name}: {made.described()}.")
        self.make_labels_button.setEnabled(False)
        self.label_set_made.emit(made.label_set)

    @Slot(str)
    def _on_count_failed(self, message: str) -> None:
        if self.sender() is not self._count_task:
            return
        self._count_task = None
        self._set_counting(False)
        self.error_label.setText(message)
        self.values_counted.emit()

    def done(self, result: int) -> None:
        if self._count_task is not None:  # closed while counting: stop reading the file
            self._count_task.cancel()
            self._count_task = None
        super().done(result)

    def chosen(self) -> Columns:
        gold = self.gold_combo.currentData()
        columns = Columns(
            self.columns.table, self.text_combo.currentData(), None if gold < 0 else gold
        )
        if self.label_set is not None and columns.gold is not None:
            columns = replace(columns, gold_map=self.gold_editor.gold_map())
        return columns

    @Slot()
    def _on_buttons_accepted(self) -> None:
        if self.counting:
            return
        chosen = self.chosen()
        if chosen.gold == chosen.text:
            self.error_label.setText("The texts and the gold labels must be different columns.")
            return
        problem = self.gold_editor.problem() if self.label_set is not None else None
        if problem:
            self.error_label.setText(problem)
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        parent: QWidget,
        columns: Columns,
        *,
        need_gold: bool,
        label_set: LabelSet | None = None,
        on_label_set: Callable[[LabelSet], None] | None = None,
    ) -> Columns | None:
        """The columns to read (and, with ``label_set``, which label each gold value is).

        ``columns`` as guessed is returned as is for a 1-column file. ``on_label_set``
        is given a label set made from the gold column's values.
        """
        if len(columns.table.columns) < 2:
            return columns
        dialog = cls(columns, need_gold=need_gold, label_set=label_set, parent=parent)
        if on_label_set is not None:
            dialog.label_set_made.connect(on_label_set)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.chosen()


def _preview_table(columns: Columns) -> QTableWidget:
    """The header and first rows as they are, so the choice is made by looking."""
    names = columns.table.columns
    table = QTableWidget(0, len(names))
    table.setAccessibleName("The file's first rows")
    table.setHorizontalHeaderLabels([n.strip() or f"column {i + 1}" for i, n in enumerate(names)])
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    try:
        _table, rows = preview(columns.table.path, PREVIEW_ROWS, table=columns.table)
    except (ClassifyError, OSError):
        rows = []
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row[: len(names)]):
            item = QTableWidgetItem(cell if len(cell) <= 200 else cell[:200] + "…")
            item.setToolTip(cell[:1000])
            table.setItem(r, c, item)
    return table
