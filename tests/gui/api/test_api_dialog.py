"""The window's Local API switch: start, call it with the official client, stop, refuse.

The server is the real one (uvicorn on 127.0.0.1, the ASGI app, the owner threads) over a
scripted engine, so these tests load no model.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator

import openai
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.core.serve.server import ApiServer, ServeConfig
from app.core.settings import api_key_path, load_settings, save_settings
from app.ui.api.controller import ApiController, Server, network_urls
from app.ui.api.dialog import ApiDialog
from app.ui.main_window import MainWindow
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send, texts
from tests.model_files import tiny_model

KEY = "gui-test-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def api_store(store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    model = store.import_file(tiny_model(tmp_path_factory.mktemp("m") / "Tiny.gguf"))
    store.set_active(model.id)
    return store


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(["Hello from the API.", "Second answer."])


@pytest.fixture
def dialog(qtbot: QtBot, api_store: ModelStore, engine: FakeEngine) -> Iterator[ApiDialog]:
    def factory(config: ServeConfig) -> Server:
        return ApiServer(api_store, config, engine_factory=lambda: engine)

    controller = ApiController(api_store, factory)
    dialog = ApiDialog(controller, api_store.paths)
    qtbot.addWidget(dialog)
    dialog.port.setValue(free_port())
    dialog.show()
    yield dialog
    controller.shutdown()


def switch(qtbot: QtBot, dialog: ApiDialog) -> None:
    with qtbot.waitSignal(dialog.controller.state_changed, timeout=10_000) as blocker:
        qtbot.mouseClick(dialog.switch, Qt.MouseButton.LeftButton)
    state = blocker.args[0] if blocker.args else None
    if state is not None and state.busy:  # starting/stopping: wait for the outcome
        qtbot.waitUntil(lambda: not dialog.controller.state.busy, timeout=10_000)


def test_start_call_with_openai_client_see_activity_and_stop(
    qtbot: QtBot, dialog: ApiDialog
) -> None:
    port = dialog.port.value()
    switch(qtbot, dialog)
    state = dialog.controller.state
    assert state.running and state.url == f"http://127.0.0.1:{port}/v1"
    assert dialog.status.text() == f"Serving at http://127.0.0.1:{port}/v1"
    assert dialog.switch.text() == "Stop the server"
    assert not dialog.port.isEnabled() and not dialog.key.isEnabled(), "locked while it serves"
    assert dialog.autostart.isEnabled() and dialog.show_key.isEnabled()
    assert f"curl http://127.0.0.1:{port}/v1/chat/completions" in dialog.example.toPlainText()

    client = openai.OpenAI(base_url=state.url, api_key="unused", max_retries=0, timeout=10)
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.choices[0].message.content == "Hello from the API."
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    dialog.refresh_activity()
    assert dialog.served.text() == "Requests answered: 1"
    assert "404" in dialog.errors.item(0).text() and "nope" in dialog.errors.item(0).text()

    qtbot.mouseClick(dialog.copy_curl, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text().startswith(f"curl http://127.0.0.1:{port}/v1/")
    assert "Authorization" not in QApplication.clipboard().text(), "no key: none is needed"

    switch(qtbot, dialog)
    assert not dialog.controller.state.running and dialog.controller.server is None
    assert dialog.switch.text() == "Start the server" and dialog.port.isEnabled()
    assert refuses(port), "the port is closed again"
    assert load_settings(dialog.paths).api_port == port, "the port is remembered"


def test_a_key_is_required_and_kept_private(
    qtbot: QtBot, dialog: ApiDialog, api_store: ModelStore
) -> None:
    dialog.key.setText(KEY)
    switch(qtbot, dialog)
    state = dialog.controller.state
    assert state.running and state.needs_key
    assert "an API key is required" in dialog.status.text()
    assert "Authorization: Bearer $DRIFTLESS_API_KEY" in dialog.example.toPlainText()
    assert KEY not in dialog.example.toPlainText(), "the example does not print the key"
    assert "DRIFTLESS_API_KEY=********\ncurl" in dialog.example.toPlainText()
    dialog.show_key.setChecked(True)
    assert f"DRIFTLESS_API_KEY={KEY}\ncurl" in dialog.example.toPlainText()
    dialog.show_key.setChecked(False)
    assert KEY not in dialog.example.toPlainText()
    wrong = openai.OpenAI(base_url=state.url, api_key="wrong", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = openai.OpenAI(base_url=state.url, api_key=KEY, max_retries=0, timeout=10)
    assert [m.id for m in right.models.list()] == [api_store.active().id]  # type: ignore[union-attr]
    path = api_key_path(api_store.paths)
    assert path.read_text().strip() == KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KEY not in api_store.paths.settings_file.read_text()


def test_other_machines_only_with_a_key(qtbot: QtBot, dialog: ApiDialog) -> None:
    dialog.network.setChecked(True)
    qtbot.mouseClick(dialog.switch, Qt.MouseButton.LeftButton)
    assert not dialog.controller.state.running and dialog.controller.server is None
    assert dialog.status.text() == (
        "Not serving: other machines may connect only with an API key. Type one under "
        "API key, or press Generate."
    ), "the window's own words, not command-line flags"
    assert dialog.switch.isEnabled() and refuses(dialog.port.value())

    dialog.key.setText("short")
    qtbot.mouseClick(dialog.switch, Qt.MouseButton.LeftButton)
    assert "too short" in dialog.status.text() and dialog.controller.server is None

    qtbot.mouseClick(dialog.generate, Qt.MouseButton.LeftButton)
    assert len(dialog.key.text()) >= 24 and dialog.show_key.isChecked()


def test_other_machines_get_real_addresses_and_a_curl_that_works_as_pasted(
    qtbot: QtBot, dialog: ApiDialog
) -> None:
    port = dialog.port.value()
    others = network_urls(port)
    if not others:
        pytest.skip("this machine has no network address besides loopback to serve on")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed, so the copied command cannot be run as pasted")
    dialog.network.setChecked(True)
    dialog.key.setText(KEY)
    assert others[0] in dialog.example.toPlainText(), "the example shows it before it starts"
    switch(qtbot, dialog)
    state = dialog.controller.state
    assert state.running and state.network_urls == others
    assert "0.0.0.0" not in dialog.status.text() + dialog.example.toPlainText()
    assert dialog.status.text() == (
        f"Serving at http://127.0.0.1:{port}/v1 here, and for other machines at "
        f"{' or '.join(others)} (an API key is required)"
    )
    assert others[0] in dialog.reach.text() and KEY not in dialog.example.toPlainText()

    qtbot.mouseClick(dialog.copy_curl, Qt.MouseButton.LeftButton)
    assert dialog.copy_curl.text() == "Copied" and dialog.copy_python.text() == "Copy Python"
    copied = QApplication.clipboard().text()
    assert copied.startswith(f"DRIFTLESS_API_KEY={KEY}\ncurl {others[0]}/chat/completions")
    # Pasted into a shell with nothing set, it is answered.
    answered = subprocess.run(
        ["sh", "-c", copied], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True
    )
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["choices"][0]["message"]["content"] == (
        "Hello from the API."
    )
    qtbot.mouseClick(dialog.copy_python, Qt.MouseButton.LeftButton)
    assert dialog.copy_python.text() == "Copied" and dialog.copy_curl.text() == "Copy curl"
    assert f'api_key="{KEY}"' in QApplication.clipboard().text()
    qtbot.waitUntil(lambda: dialog.copy_python.text() == "Copy Python", timeout=5_000)


def test_a_taken_port_is_a_sentence_not_a_crash(qtbot: QtBot, dialog: ApiDialog) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        dialog.port.setValue(taken.getsockname()[1])
        switch(qtbot, dialog)
    assert not dialog.controller.state.running
    assert f"Cannot listen on 127.0.0.1:{dialog.port.value()}" in dialog.status.text()
    assert dialog.switch.isEnabled() and dialog.switch.text() == "Start the server"


def test_the_window_starts_it_with_itself_and_chat_works_while_it_answers(
    qtbot: QtBot, api_store: ModelStore
) -> None:
    port = free_port()
    save_settings(
        api_store.paths,
        load_settings(api_store.paths).with_changes(api_port=port, api_autostart=True),
    )
    api_engine = FakeEngine(["one two three four five six seven eight"], token_delay=0.1)
    window_engine = FakeEngine(["The window's own answer."])
    window = MainWindow(
        api_store,
        engine_factory=lambda: window_engine,
        server_factory=lambda config: ApiServer(
            api_store, config, engine_factory=lambda: api_engine
        ),
    )
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    qtbot.waitUntil(lambda: window.api.state.running, timeout=10_000)
    assert window.api_label.isVisible()
    assert window.api_label.text() == f"● API http://127.0.0.1:{port}/v1"
    qtbot.waitUntil(lambda: window.chat_page.controller.loaded is not None, timeout=10_000)

    # A streamed API answer is under way (about a second) while the window chats.
    streamed: list[str] = []
    client = openai.OpenAI(base_url=window.api.state.url, api_key="x", max_retries=0, timeout=20)

    def stream() -> None:
        chunks = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Count"}], stream=True
        )
        streamed.extend(c.choices[0].delta.content or "" for c in chunks if c.choices)

    caller = threading.Thread(target=stream)
    caller.start()
    qtbot.waitUntil(lambda: bool(api_engine.requests), timeout=10_000)
    send(qtbot, window.chat_page, "Hello window")
    assert texts(window.chat_page)[-1] == ("assistant", "The window's own answer.")
    caller.join(20)
    assert "".join(streamed) == "one two three four five six seven eight"

    dialog = window.show_api()
    assert dialog.controller is window.api and dialog.switch.text() == "Stop the server"
    window.close()
    assert refuses(port), "closing the window stops the server"
