"""The Local API window: the switch, its settings, how to call it, and what it served.

Settings are saved when the server starts (and when the window closes), re-read from
disk first, so the Models and Classify pages' own settings are never overwritten.
While the server runs its settings are locked: they apply at the next start.
"""

from __future__ import annotations

import secrets
import time

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.paths import Paths
from app.core.serve.server import API_KEY_ENV, MIN_KEY_LENGTH
from app.core.settings import Settings, SettingsError, load_settings, save_settings
from app.ui.api.controller import ApiController, ApiState

REFRESH_MS = 1000


def example_command(url: str, needs_key: bool) -> str:
    """A ``curl`` call a user can paste into a terminal as it is."""
    auth = f' \\\n  -H "Authorization: Bearer ${API_KEY_ENV}"' if needs_key else ""
    return (
        f"curl {url}/chat/completions{auth} \\\n"
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"model": "default", "messages": '
        '[{"role": "user", "content": "Say hello"}]}\''
    )


def python_example(url: str, needs_key: bool) -> str:
    key = f'os.environ["{API_KEY_ENV}"]' if needs_key else '"none"'
    imports = "import os\n" if needs_key else ""
    return (
        f"{imports}from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{url}", api_key={key})\n'
        "reply = client.chat.completions.create(\n"
        '    model="default", messages=[{"role": "user", "content": "Say hello"}]\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )


class ApiDialog(QDialog):
    """Non-modal: it may stay open beside the window while the server answers."""

    def __init__(self, controller: ApiController, paths: Paths, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.paths = paths
        self.setWindowTitle("Local API server")
        self.resize(620, 640)
        settings = load_settings(paths)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAccessibleName("Server status")
        self.switch = QPushButton()
        self.switch.clicked.connect(self._on_switch_clicked)

        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(max(1024, settings.api_port))
        self.port.setAccessibleName("Port")
        self.network = QCheckBox("Let other machines on the network connect (needs the key)")
        self.network.setChecked(settings.api_network)
        self.key = QLineEdit(settings.api_key or "")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("none: any program on this machine may connect")
        self.key.setAccessibleName("API key")
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Make a new random key")
        self.generate.clicked.connect(self._on_generate_clicked)
        self.show_key = QCheckBox("Show")
        self.show_key.toggled.connect(self._on_show_key_toggled)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.show_key)
        key_row.addWidget(self.generate)
        self.cors = QLineEdit(settings.api_cors)
        self.cors.setPlaceholderText("off; e.g. http://localhost:3000")
        self.cors.setToolTip("Web pages from these origins may call the API (space or comma).")
        self.cors.setAccessibleName("Allowed web origins")
        self.autostart = QCheckBox(f"Start the server when {APP_NAME} starts")
        self.autostart.setChecked(settings.api_autostart)
        self.autostart.toggled.connect(self._on_autostart_toggled)

        options = QGroupBox("Settings (locked while it serves)")
        form = QFormLayout(options)
        form.addRow("Port", self.port)
        form.addRow("", self.network)
        form.addRow("API key", key_row)
        form.addRow("Web origins", self.cors)
        form.addRow("", self.autostart)
        self.options = options

        self.example = QPlainTextEdit()
        self.example.setReadOnly(True)
        self.example.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.example.setAccessibleName("Example call")
        self.copy_curl = QPushButton("Copy curl")
        self.copy_curl.clicked.connect(self._on_copy_curl_clicked)
        self.copy_python = QPushButton("Copy Python")
        self.copy_python.clicked.connect(self._on_copy_python_clicked)
        copy_row = QHBoxLayout()
        copy_row.addStretch(1)
        copy_row.addWidget(self.copy_curl)
        copy_row.addWidget(self.copy_python)
        example_box = QGroupBox("Call it")
        example_layout = QVBoxLayout(example_box)
        example_layout.addWidget(self.example)
        example_layout.addLayout(copy_row)

        self.served = QLabel()
        self.errors = QListWidget()
        self.errors.setAccessibleName("Last errors")
        self.errors.setMaximumHeight(90)
        activity = QGroupBox("Activity")
        activity_layout = QVBoxLayout(activity)
        activity_layout.addWidget(self.served)
        activity_layout.addWidget(QLabel("Last errors:"))
        activity_layout.addWidget(self.errors)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.switch)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(options)
        layout.addWidget(example_box, 1)
        layout.addWidget(activity)
        layout.addWidget(buttons)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh_activity)
        controller.state_changed.connect(self._on_controller_state_changed)
        self._on_controller_state_changed(controller.state)

    def chosen_settings(self) -> Settings:
        """The settings on disk with this window's choices (raises SettingsError)."""
        return load_settings(self.paths).with_changes(
            api_port=self.port.value(),
            api_network=self.network.isChecked(),
            api_key=self.key.text().strip() or None,
            api_cors=self.cors.text().strip(),
            api_autostart=self.autostart.isChecked(),
        )

    def refresh_activity(self) -> None:
        served, errors = self.controller.stats()
        self.served.setText(f"Requests answered: {served}")
        self.errors.clear()
        for when, status, message in reversed(errors):
            stamp = time.strftime("%H:%M:%S", time.localtime(when))
            self.errors.addItem(f"{stamp}  {status}  {message}")
        if not errors:
            self.errors.addItem("none")

    # --- slots --------------------------------------------------------------

    @Slot()
    def _on_switch_clicked(self) -> None:
        if self.controller.server is not None:
            self.controller.stop()
            return
        key = self.key.text().strip()
        if key and len(key) < MIN_KEY_LENGTH:
            self.status.setText(
                f"Not serving: the API key is too short; use at least {MIN_KEY_LENGTH} "
                "characters, or Generate one."
            )
            return
        try:
            settings = self.chosen_settings()
            save_settings(self.paths, settings)
        except (SettingsError, OSError) as exc:
            self.status.setText(f"Not serving: {exc}")
            return
        self.controller.start(settings)

    @Slot()
    def _on_generate_clicked(self) -> None:
        self.key.setText(secrets.token_urlsafe(24))
        self.show_key.setChecked(True)

    @Slot(bool)
    def _on_show_key_toggled(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.key.setEchoMode(mode)

    @Slot(bool)
    def _on_autostart_toggled(self, _checked: bool) -> None:
        try:  # saved at once: it is about the next start of the app, not of the server
            save_settings(self.paths, self.chosen_settings())
        except (SettingsError, OSError) as exc:
            self.status.setText(f"Could not save the setting: {exc}")

    @Slot()
    def _on_copy_curl_clicked(self) -> None:
        state = self.controller.state
        QGuiApplication.clipboard().setText(example_command(self._url(state), state.needs_key))

    @Slot()
    def _on_copy_python_clicked(self) -> None:
        state = self.controller.state
        QGuiApplication.clipboard().setText(python_example(self._url(state), state.needs_key))

    @Slot(object)
    def _on_controller_state_changed(self, state: ApiState) -> None:
        self.status.setText(state.text)
        self.switch.setText("Stop the server" if state.running else "Start the server")
        self.switch.setEnabled(not state.busy)
        editable = not state.running and not state.busy
        for field in (self.port, self.network, self.key, self.generate, self.cors):
            field.setEnabled(editable)  # "Show" and the start-up choice stay usable
        url = self._url(state)
        needs_key = state.needs_key if state.running else bool(self.key.text().strip())
        self.example.setPlainText(
            example_command(url, needs_key) + "\n\n" + python_example(url, needs_key)
        )
        if state.running:
            self.timer.start()
        else:
            self.timer.stop()
        self.refresh_activity()

    def _url(self, state: ApiState) -> str:
        """The address to call from this machine (a server on every address answers here too)."""
        url = state.url or f"http://127.0.0.1:{self.port.value()}/v1"
        return url.replace("//0.0.0.0:", "//127.0.0.1:")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        super().closeEvent(event)
