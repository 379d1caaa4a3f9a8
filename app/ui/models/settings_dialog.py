"""The model manager's settings: Hub endpoint, access token, offline switch, the memory
models may use and how long an unused one stays loaded, data folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.paths import HOME_ENV
from app.core.settings import DEFAULT_ENDPOINT, Settings, SettingsError
from app.ui import colors
from app.ui.elided_label import ElidedLabel
from app.ui.models.prompts import Prompts


class SettingsDialog(QDialog):
    """Edits a :class:`Settings`; ``ask`` returns the new value, or None if cancelled."""

    def __init__(self, settings: Settings, models_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Model manager settings")
        self.settings = settings
        self.result_settings: Settings | None = None
        self.models_dir = models_dir

        self.endpoint = QLineEdit(settings.hub_endpoint)
        self.endpoint.setPlaceholderText(DEFAULT_ENDPOINT)
        self.endpoint.setToolTip("The Hugging Face Hub, or a company mirror of it")
        self.token = QLineEdit(settings.hub_token or "")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_… (only for gated or private repos)")
        self.token.setToolTip("Stored in the data folder, readable by you alone (0600)")
        self.offline = QCheckBox("Work offline")
        self.offline.setChecked(settings.offline)
        self.offline.setToolTip("Search and downloads are off, and nothing touches the network")
        self.cluster = QLineEdit(settings.cluster_address)
        self.cluster.setPlaceholderText("auto or ray://HOST:PORT (empty: no cluster)")
        self.cluster.setToolTip(
            "A Ray cluster for classifying big files (needs driftless[cluster]): auto joins "
            "RAY_ADDRESS or starts Ray on this computer"
        )
        self.memory = QSpinBox()
        self.memory.setRange(0, 1_000_000)
        self.memory.setSingleStep(512)
        self.memory.setSuffix(" MB")
        self.memory.setSpecialValueText("As much as is free")
        self.memory.setValue(settings.memory_budget_mb)
        self.memory.setToolTip(
            "The most memory loaded models and their contexts may take together (chat, "
            "classification, the local API and checks share each model's weights). A model "
            "that does not fit is refused with the figures, never left to crash the computer."
        )
        self.idle = QSpinBox()
        self.idle.setRange(0, 24 * 60)
        self.idle.setSuffix(" min")
        self.idle.setSpecialValueText("Unload at once")
        self.idle.setValue(round(settings.model_idle_seconds / 60))
        self.idle.setToolTip(
            "How long a model nobody is using stays loaded, so the next chat or request "
            "starts at once; it is unloaded sooner when its memory is needed."
        )
        # One line, elided when long (the whole path in its tooltip): a path has no spaces
        # to wrap at, and a wrapped one was cut to its first line in the form.
        folder = ElidedLabel(str(models_dir))
        folder.setToolTip(str(models_dir))
        open_folder = QPushButton("Open")
        open_folder.clicked.connect(self._on_open_folder_clicked)
        where = QHBoxLayout()
        where.addWidget(folder, 1)
        where.addWidget(open_folder)
        where_note = QLabel(
            f"To keep models elsewhere, start Driftless with <code>--home FOLDER</code> or set "
            f"<code>{HOME_ENV}</code>; each data folder has its own models and settings."
        )
        where_note.setWordWrap(True)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.error.setStyleSheet(colors.text_style("bad"))
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.addRow("Hub endpoint", self.endpoint)
        form.addRow("Access token", self.token)
        form.addRow("", self.offline)
        form.addRow("Ray cluster", self.cluster)
        form.addRow("Memory for models", self.memory)
        form.addRow("Keep an unused model loaded", self.idle)
        form.addRow("Models are stored in", where)
        form.addRow("", where_note)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())

    @classmethod
    def ask(cls, parent: QWidget | None, settings: Settings, models_dir: Path) -> Settings | None:
        dialog = cls(settings, models_dir, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.result_settings

    def edited(self) -> Settings:
        """The settings as edited; raises :class:`SettingsError` when one is unusable."""
        endpoint = self.endpoint.text().strip().rstrip("/") or DEFAULT_ENDPOINT
        token = self.token.text().strip() or None
        return self.settings.with_changes(
            hub_endpoint=endpoint,
            hub_token=token,
            offline=self.offline.isChecked(),
            cluster_address=self.cluster.text().strip(),
            memory_budget_mb=self.memory.value(),
            model_idle_seconds=float(self.idle.value() * 60),
        )

    @Slot()
    def _on_buttons_accepted(self) -> None:
        try:
            self.result_settings = self.edited()
        except SettingsError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.accept()

    @Slot()
    def _on_open_folder_clicked(self) -> None:
        Prompts.show_folder(self.models_dir)
