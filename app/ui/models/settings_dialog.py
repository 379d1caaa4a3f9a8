"""The model manager's settings: Hub endpoint, access token, offline switch, the memory
models may use and how long an unused one stays loaded, GPU layers (with the devices found,
or why none), data folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
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

from app.core.paths import HOME_ENV, shown_path
from app.core.runtime.gpu import Backends, discover
from app.core.settings import DEFAULT_ENDPOINT, Settings, SettingsError, parse_gpu_layers
from app.core.units import human_size
from app.ui import colors
from app.ui.elided_label import ElidedLabel
from app.ui.models.prompts import Prompts
from app.ui.tasks import Task

GPU_CHOICES = (
    ("auto", "Auto: what fits the GPU's free memory"),
    ("0", "0 (the CPU only)"),
    ("N", "A number of layers"),
    ("all", "All layers"),
)
"""The "GPU layers" choices: the setting's value ("N": the spin box's number) and label."""
MAX_LAYERS = 1000


def devices_text(found: Backends) -> str:
    """The devices llama.cpp can offload to, one a line, or the sentence why there is none."""
    if not found.devices:
        return f"No GPU: {found.cpu_only_reason}."
    lines = []
    for device in found.devices:
        driver = f", driver {device.driver}" if device.driver else ""
        soft = " (software: computes on the CPU; auto never uses it)" if device.software else ""
        lines.append(
            f"{device.name}: {device.description}{driver}, {human_size(device.memory_free)} "
            f"free of {human_size(device.memory_total)}{soft}"
        )
    return "\n".join(lines)


class SettingsDialog(QDialog):
    """Edits a :class:`Settings`; ``ask`` returns the new value, or None if cancelled."""

    def __init__(
        self,
        settings: Settings,
        models_dir: Path,
        parent: QWidget | None = None,
        *,
        find_devices: Callable[[], Backends] = discover,
    ):
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
        self.gpu = QComboBox()
        for value, label in GPU_CHOICES:
            self.gpu.addItem(label, value)
        self.gpu_count = QSpinBox()
        self.gpu_count.setRange(1, MAX_LAYERS)
        self.gpu_count.setSuffix(" layers")
        choice = parse_gpu_layers(settings.gpu_layers)
        if choice.isdigit() and choice != "0":
            self.gpu_count.setValue(int(choice))
            choice = "N"
        self.gpu.setCurrentIndex(self.gpu.findData(choice))
        self.gpu_count.setEnabled(choice == "N")
        self.gpu.currentIndexChanged.connect(self._on_gpu_current_index_changed)
        self.gpu.setToolTip(
            "How many of a model's layers run on the GPU. Offloading changes the arithmetic, "
            "so answers can change: replies and behaviour checks record where they ran. A "
            "load that fails on the GPU runs on the CPU, with a sentence."
        )
        gpu_row = QHBoxLayout()
        gpu_row.addWidget(self.gpu, 1)
        gpu_row.addWidget(self.gpu_count)
        self.devices = QLabel("Looking for GPUs…")
        self.devices.setTextFormat(Qt.TextFormat.PlainText)  # names from the driver
        self.devices.setWordWrap(True)
        # One line, elided when long (the whole path in its tooltip): a path has no spaces
        # to wrap at, and a wrapped one was cut to its first line in the form.
        folder = ElidedLabel(shown_path(models_dir))  # ~/… under home; whole in the tip
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
        form.addRow("GPU layers", gpu_row)
        form.addRow("", self.devices)
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
        # Finding devices loads llama.cpp and its GPU backend: a second or two, off this thread.
        self._devices_task = Task(lambda task: find_devices(), self)
        self._devices_task.succeeded.connect(self._on_devices_task_succeeded)
        self._devices_task.failed.connect(self._on_devices_task_failed)
        self._devices_task.start()

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
            gpu_layers=self.gpu_layers(),
        )

    def gpu_layers(self) -> str:
        """The "GPU layers" setting as chosen: ``auto``, ``0``, ``all`` or a number."""
        value = str(self.gpu.currentData())
        return str(self.gpu_count.value()) if value == "N" else value

    @Slot(int)
    def _on_gpu_current_index_changed(self, _index: int) -> None:
        self.gpu_count.setEnabled(self.gpu.currentData() == "N")

    @Slot(object)
    def _on_devices_task_succeeded(self, found: Backends) -> None:
        self.devices.setText(devices_text(found))

    @Slot(str)
    def _on_devices_task_failed(self, sentence: str) -> None:
        self.devices.setText(f"No GPU: {sentence}")

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
