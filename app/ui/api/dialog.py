"""The Local API window: the switch, its settings, how to call it, and what it served.

Settings are saved when the server starts (and when the window closes), re-read from
disk first, so the Models and Classify pages' own settings are never overwritten.
While the server runs its settings are locked: they apply at the next start.
"""

from __future__ import annotations

import json
import secrets
import shlex
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
from app.ui.api.controller import ApiController, ApiState, network_urls
from app.ui.copy_button import COPIED_MS

REFRESH_MS = 1000


HIDDEN_KEY = "********"


def example_command(url: str, key: str | None) -> str:
    """A ``curl`` call that works as pasted into a terminal: with a key, its first line
    sets it (``HIDDEN_KEY`` in place of the key shows where it goes without showing it)."""
    if not key:
        set_key = auth = ""
    else:
        value = key if key == HIDDEN_KEY else shlex.quote(key)
        set_key = f"{API_KEY_ENV}={value}\n"
        auth = f' \\\n  -H "Authorization: Bearer ${API_KEY_ENV}"'
    return (
        f"{set_key}curl {url}/chat/completions{auth} \\\n"
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"model": "default", "messages": '
        '[{"role": "user", "content": "Say hello"}]}\''
    )


def python_example(url: str, key: str | None) -> str:
    value = json.dumps(key) if key else '"none"'
    return (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{url}", api_key={value})\n'
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
        self.network.toggled.connect(self._on_settings_edited)
        self.key = QLineEdit(settings.api_key or "")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("none: any program on this machine may connect")
        self.key.setAccessibleName("API key")
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Make a new random key")
        self.generate.clicked.connect(self._on_generate_clicked)
        self.show_key = QCheckBox("Show")
        self.show_key.toggled.connect(self._on_show_key_toggled)
        self.key.textChanged.connect(self._on_settings_edited)
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
        self.copied = QTimer(self)
        self.copied.setSingleShot(True)
        self.copied.setInterval(COPIED_MS)
        self.copied.timeout.connect(self._on_copied_timeout)
        self.reach = QLabel()
        self.reach.setWordWrap(True)
        self.reach.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reach.setAccessibleName("Where to call it")
        example_box = QGroupBox("Call it")
        example_layout = QVBoxLayout(example_box)
        example_layout.addWidget(self.reach)
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
        if self.network.isChecked() and not key:
            self.status.setText(
                "Not serving: other machines may connect only with an API key. Type one "
                "under API key, or press Generate."
            )
            return
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
        self._show_examples(self.controller.state)

    @Slot()
    def _on_settings_edited(self) -> None:
        self._show_examples(self.controller.state)

    @Slot(bool)
    def _on_autostart_toggled(self, _checked: bool) -> None:
        try:  # saved at once: it is about the next start of the app, not of the server
            save_settings(self.paths, self.chosen_settings())
        except (SettingsError, OSError) as exc:
            self.status.setText(f"Could not save the setting: {exc}")

    @Slot()
    def _on_copy_curl_clicked(self) -> None:
        url, key = self._call_details(self.controller.state)
        QGuiApplication.clipboard().setText(example_command(url, key))
        self._say_copied(self.copy_curl)

    @Slot()
    def _on_copy_python_clicked(self) -> None:
        url, key = self._call_details(self.controller.state)
        QGuiApplication.clipboard().setText(python_example(url, key))
        self._say_copied(self.copy_python)

    def _say_copied(self, button: QPushButton) -> None:
        self._on_copied_timeout()  # the other button says its name again
        button.setText("Copied")
        self.copied.start()

    @Slot()
    def _on_copied_timeout(self) -> None:
        self.copy_curl.setText("Copy curl")
        self.copy_python.setText("Copy Python")

    @Slot(object)
    def _on_controller_state_changed(self, state: ApiState) -> None:
        self.status.setText(state.text)
        self.switch.setText("Stop the server" if state.running else "Start the server")
        self.switch.setEnabled(not state.busy)
        editable = not state.running and not state.busy
        for field in (self.port, self.network, self.key, self.generate, self.cors):
            field.setEnabled(editable)  # "Show" and the start-up choice stay usable
        self._show_examples(state)
        if state.running:
            self.timer.start()
        else:
            self.timer.stop()
        self.refresh_activity()

    def _call_details(self, state: ApiState) -> tuple[str, str | None]:
        """The address the examples call (this machine's own network address when other
        machines may connect, so the example works from them too) and the key."""
        if state.running:
            url = state.network_urls[0] if state.network_urls else state.local_url
            return url, (self.key.text().strip() or None) if state.needs_key else None
        port = self.port.value()
        others = network_urls(port) if self.network.isChecked() else ()
        url = others[0] if others else f"http://127.0.0.1:{port}/v1"
        return url, self.key.text().strip() or None

    def _show_examples(self, state: ApiState) -> None:
        """The examples as copied, except that the key shows only when Show is ticked."""
        url, key = self._call_details(state)
        if key and not self.show_key.isChecked():
            key = HIDDEN_KEY
        self.example.setPlainText(example_command(url, key) + "\n\n" + python_example(url, key))
        if state.running and state.network_urls:
            self.reach.setText(
                "Other machines call " + " or ".join(state.network_urls) + "; this one "
                f"also {state.local_url}. Copy curl and Copy Python copy the key with it."
            )
        elif state.running and state.url != state.local_url:
            self.reach.setText(
                f"This machine has no network address others can reach; {state.local_url} "
                "works here."
            )
        elif state.running:
            self.reach.setText(f"Programs on this machine call {state.local_url}.")
        else:
            self.reach.setText("Once it serves, the examples below call it as they are.")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        super().closeEvent(event)
