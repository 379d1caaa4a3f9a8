"""The window, its API server and the checks at start share one load of the model."""

from __future__ import annotations

import socket
from pathlib import Path

import openai
import pytest
from pytestqt.qtbot import QtBot

from app.core.drift import CheckSet, CheckSetLibrary, PromptItem, answer
from app.core.drift.checkset import item_id
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.runtime.host import default_host
from app.core.settings import load_settings, save_settings
from app.ui.main_window import MainWindow
from tests.gui.chat.helpers import send, texts
from tests.gui.models.test_runtime_checks import record_on_old_runtime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_window_api_server_and_checks_at_start_load_the_weights_once(
    qtbot: QtBot, store: ModelStore, starter_copy: Path
) -> None:
    assert ensure_starter(store) is not None  # the window expects it
    # The model used is a file of this test's own: no other test shares its weights.
    starter = store.import_file(starter_copy, link=True)
    store.set_active(starter.id)
    prompts = (PromptItem(item_id("prompt", None, "Hi!"), "Hi!"),)
    check_set = CheckSet(name="basics", prompts=prompts, max_tokens=4)
    recorded = answer(store.paths, store, check_set, starter.id, threads=1)
    CheckSetLibrary.for_paths(store.paths).save(record_on_old_runtime(check_set, recorded))
    port = free_port()
    save_settings(
        store.paths, load_settings(store.paths).with_changes(api_port=port, api_autostart=True)
    )
    host = default_host()
    host.unload_idle()  # the recording above let go of its model: start cold
    before = host.loads(path=str(starter.path))

    window = MainWindow(store)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.models_page.runtime_checks.finished, timeout=120_000):
        window.show()
    qtbot.waitUntil(lambda: window.api.state.running, timeout=20_000)
    qtbot.waitUntil(lambda: window.chat_page.controller.loaded is not None, timeout=60_000)
    client = openai.OpenAI(base_url=window.api.state.url, api_key="x", max_retries=0, timeout=60)
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert reply.choices[0].message.content
    send(qtbot, window.chat_page, "Hello window")
    assert texts(window.chat_page)[-1][0] == "assistant"

    assert host.loads(path=str(starter.path)) == before + 1, "one load for chat, API and checks"
    path = str(starter.path)
    (held,) = [h for h in host.held() if h.key.path == path]
    assert {"chat", "the API server"} <= set(held.users)
    window.close()
