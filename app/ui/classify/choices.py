"""The Classify page's choices: which model, label set and method, scored how.

Every tab classifies with what is chosen here (:meth:`ChoicesBar.job`). The bar keeps
the choices for the next start, opens the chosen model ahead of the first request, and
says in its status line what the classification thread is loading.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from app.core.classify import (
    ClassifyError,
    Columns,
    LabelSet,
    LabelSetError,
    LabelSetLibrary,
    MethodOptions,
    choose_columns,
    sniff,
)
from app.core.classify.runner import RunnerInfo
from app.core.errors import DriftlessError
from app.core.models.embedder import is_encoder_architecture
from app.core.models.starter import is_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.settings import load_settings, save_settings
from app.ui import theme
from app.ui.active_model import ActiveModel
from app.ui.classify.controller import ClassifyController
from app.ui.classify.dialogs import LabelSetDialog
from app.ui.classify.options import STYLES, ColumnsDialog, OptionsDialog, ScoringOptions
from app.ui.classify.worker import Job
from app.ui.elided_combo import ElidedComboBox
from app.ui.flow_layout import FlowLayout
from app.ui.starter_note import starter_note

METHODS = (("Prompted scoring", "prompt"), ("Taught by examples", "examples"))
ENCODER_MARK = "  (sentence encoder)"
ENCODER_TIP = (
    "A sentence encoder makes one vector of a text: teach it from examples "
    "(its pooled vectors); prompted scoring needs a chat model"
)


class ChoicesBar(QWidget):
    """The row of choices above the tabs, and the page's status line (placed below them)."""

    changed = Signal()
    """The label set, method or options changed: a tried text is classified again."""
    ready_changed = Signal()
    """Whether there is a model and a label set to classify with may have changed."""

    def __init__(
        self,
        store: ModelStore,
        paths: Paths,
        controller: ClassifyController,
        active: ActiveModel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.paths = paths
        self.controller = controller
        self.active = active
        self.library = LabelSetLibrary.for_paths(paths)
        settings = load_settings(paths)
        style = settings.classify_style
        self.scoring = ScoringOptions(
            style=next((s for _t, s in STYLES if s == style), "plain"),
            few_shot=settings.classify_few_shot,
            calibrated=settings.classify_calibrated,
            threshold=settings.classify_threshold,
            unpack=settings.unpack_for_classification,
        )
        self.label_sets: list[LabelSet] = []

        self.model_combo = ElidedComboBox("The installed model to classify with")
        self.model_combo.setAccessibleName("Model")
        self.label_set_combo = ElidedComboBox(
            "The labels to sort texts into", mode=Qt.TextElideMode.ElideRight
        )
        self.label_set_combo.setAccessibleName("Label set")
        # Long model ids and label set names must not widen the whole window: elided.
        for combo in (self.model_combo, self.label_set_combo):
            combo.setMinimumContentsLength(10)
        self.method_combo = QComboBox()
        self.method_combo.setAccessibleName("Method")
        for title, method in METHODS:
            self.method_combo.addItem(title, method)
        # Two short names: shown whole.
        self.method_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.edit_button = QPushButton("Edit label set…")
        self.options_button = QPushButton("Options…")
        self.options_button.setToolTip("Prompt style, few-shot, calibration, threshold, speed")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        # While the starter is chosen: what it is for, and what to get for real work.
        self.starter_label = QLabel(starter_note())
        self.starter_label.setWordWrap(True)
        self.starter_label.setTextFormat(Qt.TextFormat.PlainText)
        self.starter_label.setAccessibleName("About the starter model")
        self.starter_label.hide()
        self.model_combo.currentIndexChanged.connect(self._show_starter_note)
        # One line on a wide window, wrapped on a narrow one (each label with its list).
        top = FlowLayout(self)
        for title, widget in (
            ("Model", self.model_combo),
            ("Label set", self.label_set_combo),
            ("Method", self.method_combo),
        ):
            pair = QWidget()
            pair.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            row = QHBoxLayout(pair)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(theme.XS)
            label = QLabel(title)
            label.setBuddy(widget)
            row.addWidget(label)
            row.addWidget(widget, 1)
            top.addWidget(pair)
        top.addWidget(self.edit_button)
        top.addWidget(self.options_button)

        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.active.active_model_changed.connect(self._on_active_model_changed)
        self.label_set_combo.activated.connect(self._on_choice_changed)
        self.method_combo.activated.connect(self._on_choice_changed)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.options_button.clicked.connect(self._on_options_button_clicked)
        controller.model_loading.connect(self._on_controller_model_loading)
        controller.model_loaded.connect(self._on_controller_model_loaded)

        self.refresh_models()
        self.refresh_label_sets(select=settings.classify_label_set or None)
        method_index = self.method_combo.findData(settings.classify_method)
        self.method_combo.setCurrentIndex(max(0, method_index))

    # --- what is chosen -------------------------------------------------------------

    @property
    def label_set(self) -> LabelSet | None:
        index = self.label_set_combo.currentIndex()
        return self.label_sets[index] if 0 <= index < len(self.label_sets) else None

    @property
    def ready(self) -> bool:
        return self.model_combo.count() > 0 and self.label_set is not None

    def job(self) -> Job | None:
        model_id = self.model_combo.currentData()
        label_set = self.label_set
        if not model_id or label_set is None:
            return None
        options = MethodOptions(
            method=self.method_combo.currentData(),
            style=self.scoring.style,
            few_shot=self.scoring.few_shot,
            calibrated=self.scoring.calibrated,
            threshold=self.scoring.threshold,
        )
        return Job(model_id, label_set, options, unpack=self.scoring.unpack)

    def ask_columns(self, path: Path, *, need_gold: bool) -> Columns | None:
        """The columns of ``path`` to read: guessed, then shown to the person to confirm.

        With gold labels, the picker also asks which label each gold value is.
        """
        try:
            guessed = choose_columns(sniff(path))
        except (ClassifyError, OSError) as exc:
            QMessageBox.warning(self, "The file cannot be read", str(exc))
            return None
        if need_gold and guessed.gold is None:
            others = [i for i in range(len(guessed.table.columns)) if i != guessed.text]
            guessed = Columns(guessed.table, guessed.text, others[0] if others else None)
        label_set = self.label_set if need_gold else None
        return ColumnsDialog.ask(
            self,
            guessed,
            need_gold=need_gold,
            label_set=label_set,
            on_label_set=self._on_columns_label_set_made,
        )

    @Slot(object)
    def _on_columns_label_set_made(self, label_set: LabelSet) -> None:
        """A label set made from a file's column: saved, and chosen for the work asked."""
        self._save_and_choose(label_set, "{} ({} labels from the file)")

    def _save_and_choose(self, label_set: LabelSet, said: str) -> None:
        """Save ``label_set`` (a new version) and choose it; ``said`` names it on the status
        line (its version id, then its number of labels)."""
        try:
            saved = self.library.save(label_set)
        except (LabelSetError, OSError) as exc:
            QMessageBox.warning(self, "Label set not saved", str(exc))
            return
        self.refresh_label_sets(select=saved.name)
        self.status_label.setText(
            "Saved the label set " + said.format(saved.version_id, len(saved.labels)) + "."
        )
        self._on_choice_changed()

    def use_method(self, method: str) -> None:
        """Choose ``method`` (teaching chooses the taught head) and keep the choice."""
        self.method_combo.setCurrentIndex(self.method_combo.findData(method))
        self._remember_choices()

    # --- lists ------------------------------------------------------------------------

    def refresh_models(self) -> None:
        chosen = self.model_combo.currentData()
        self.model_combo.clear()
        for model in self.store.list_models():
            encoder = is_encoder_architecture(model.architecture)
            self.model_combo.addItem(model.id + (ENCODER_MARK if encoder else ""), model.id)
            if encoder:
                index = self.model_combo.count() - 1
                self.model_combo.setItemData(index, ENCODER_TIP, Qt.ItemDataRole.ToolTipRole)
        wanted = chosen or self.active.model_id
        index = self.model_combo.findData(wanted) if wanted else -1
        self.model_combo.setCurrentIndex(max(index, 0) if self.model_combo.count() else -1)
        if not self.model_combo.currentData():
            self.status_label.setText("No model is installed. Download one on the Models page.")
        elif self.isVisible():
            self.controller.open_model(self.model_combo.currentData(), self.scoring.unpack)
        self.ready_changed.emit()

    @Slot()
    def _show_starter_note(self) -> None:
        model_id = self.model_combo.currentData()
        try:
            starter = bool(model_id) and is_starter(self.store.get(model_id))
        except DriftlessError:  # removed meanwhile: no note
            starter = False
        self.starter_label.setVisible(starter)

    @Slot(str)
    def _on_active_model_changed(self, _model_id: str) -> None:
        """Follow **Use** in Models: classify with the model just made active."""
        self.model_combo.setCurrentIndex(-1)  # forget the earlier choice
        self.refresh_models()

    def refresh_label_sets(self, select: str | None = None) -> None:
        current = select or self.label_set_combo.currentData()
        saved = self.library.list_latest()
        names = {s.name.casefold() for s in saved}
        builtins = [s for s in self.library.builtins() if s.name.casefold() not in names]
        self.label_sets = sorted(saved + builtins, key=lambda s: s.name.casefold())
        self.label_set_combo.clear()
        for label_set in self.label_sets:
            kind = "built-in" if label_set.builtin else f"v{label_set.version}"
            self.label_set_combo.addItem(f"{label_set.name}  ({kind})", label_set.name)
        index = self.label_set_combo.findData(current) if current else -1
        self.label_set_combo.setCurrentIndex(max(index, 0))
        self.ready_changed.emit()

    # --- changes ----------------------------------------------------------------------

    def is_encoder(self, model_id: str | None = None) -> bool:
        """Whether the chosen model (or ``model_id``) is a sentence encoder."""
        model_id = model_id or self.model_combo.currentData()
        try:
            return bool(model_id) and is_encoder_architecture(self.store.get(model_id).architecture)
        except DriftlessError:  # removed meanwhile
            return False

    def encoder_refusal(self) -> str | None:
        """Why the chosen method cannot run on the chosen model, or None when it can."""
        model_id = self.model_combo.currentData()
        if self.method_combo.currentData() == "examples" or not self.is_encoder(model_id):
            return None
        return (
            f"{model_id} is a sentence encoder: it cannot score labels from a prompt. "
            "Choose 'Taught by examples' and teach it from a labelled file, "
            "or choose a chat model for prompted scoring."
        )

    @Slot(str)
    def _on_controller_model_loading(self, model_id: str) -> None:
        unpack = self.scoring.unpack and not self.is_encoder(model_id)
        copy = " (the first time, a faster 16-bit copy is made)" if unpack else ""
        self.status_label.setText(f"Loading {model_id} for classification{copy}…")

    @Slot(object)
    def _on_controller_model_loaded(self, info: RunnerInfo) -> None:
        if info.reader == "encoder":
            text = (
                f"{info.model_id} is ready: a sentence encoder, read as its pooled "
                "vectors for teaching by examples."
            )
            self.status_label.setText(self.encoder_refusal() or text)
            return
        text = f"{info.model_id} is ready, scoring on {info.weights} weights."
        if info.weights_note:
            text += f" The faster 16-bit copy is not used: {info.weights_note}."
        self.status_label.setText(text)

    @Slot(int)
    def _on_model_combo_activated(self, _index: int) -> None:
        self.controller.open_model(self.model_combo.currentData(), self.scoring.unpack)
        self._on_choice_changed()

    @Slot()
    def _on_choice_changed(self) -> None:
        self._remember_choices()
        refusal = self.encoder_refusal()
        if refusal is not None:
            self.status_label.setText(refusal)
        self.changed.emit()

    def _remember_choices(self) -> None:
        """Keep the label set, method and options for the next start."""
        label_set = self.label_set
        changes = {
            "classify_label_set": label_set.name if label_set is not None else "",
            "classify_method": self.method_combo.currentData() or "prompt",
            "classify_style": self.scoring.style,
            "classify_few_shot": self.scoring.few_shot,
            "classify_calibrated": self.scoring.calibrated,
            "classify_threshold": float(self.scoring.threshold),
            "unpack_for_classification": self.scoring.unpack,
        }
        try:
            settings = load_settings(self.paths)
            if any(getattr(settings, k) != v for k, v in changes.items()):
                save_settings(self.paths, settings.with_changes(**changes))
        except (OSError, ValueError) as exc:
            self.status_label.setText(f"Your choices could not be saved: {exc}")

    @Slot()
    def _on_options_button_clicked(self) -> None:
        chosen = OptionsDialog.ask(self, self.scoring)
        if chosen is None or chosen == self.scoring:
            return
        self.scoring = chosen  # saved with the other choices below
        if self.model_combo.currentData():
            self.controller.open_model(self.model_combo.currentData(), chosen.unpack)
        self._on_choice_changed()

    @Slot()
    def _on_edit_button_clicked(self) -> None:
        if self.label_set is None:
            return
        edited = LabelSetDialog.ask(self, self.label_set)
        if edited is not None:
            self._save_and_choose(edited, "as {}")
