"""A chat window killed mid-reply loses nothing that was on screen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.ui.chat.page import ChatPage
from tests.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[3]

CHILD = """
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.core.chat.conversations import ConversationStore
from app.core.paths import get_paths
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.ui.chat.page import ChatPage
from tests.fake_engine import FakeEngine

store = ModelStore(get_paths())
ensure_starter(store)
conversations = ConversationStore(store.paths)
words = " ".join(f"word{i}" for i in range(5000))
engine = FakeEngine(["First answer.", words], token_delay=0.005)
page = ChatPage(store, conversations, lambda: engine)
page.show()

def wait(condition):
    while not condition():
        app.processEvents()
        time.sleep(0.005)

wait(lambda: page.controller.loaded is not None)
page.composer.setPlainText("first question")
page.send()
wait(lambda: not page.controller.busy)
page.composer.setPlainText("second question")
page.send()
print("streaming", flush=True)
while True:
    app.processEvents()
    time.sleep(0.005)
"""


def test_sigkill_mid_reply_keeps_every_message_and_the_partial_reply(
    qtbot: QtBot, home: Path
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env={**os.environ, "DRIFTLESS_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "streaming"
        conversations = ConversationStore(get_paths(home))
        deadline = time.monotonic() + 30
        partial = ""
        while time.monotonic() < deadline:
            listed = conversations.list_conversations()
            if listed:
                thread = conversations.get_thread(listed[0].id)
                if len(thread) == 4 and thread[-1].content.count("word") >= 50:
                    partial = thread[-1].content
                    break
            time.sleep(0.05)
        assert partial, "the reply was never saved while it streamed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    (conversation,) = conversations.list_conversations()
    thread = conversations.get_thread(conversation.id)
    assert [(m.role, m.status) for m in thread] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "incomplete"),
    ]
    assert thread[1].content == "First answer."
    assert thread[3].content.startswith(partial), "nothing saved before the kill was lost"
    assert "word4999" not in thread[3].content

    # After the restart the window shows the partial reply, labelled as interrupted.
    store = ModelStore(get_paths(home))
    ensure_starter(store)
    page = ChatPage(store, conversations, lambda: FakeEngine())
    qtbot.addWidget(page)
    try:
        last = page.transcript.bubbles[-1]
        assert last.text == thread[3].content
        assert "interrupted" in last.note.text()
    finally:
        page.shutdown()
        conversations.close()
