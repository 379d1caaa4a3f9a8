"""Issue 13: status texts that told the truth only sometimes, and a status line that could widen
the window past the screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.ui.chat.page import ChatPage
from app.ui.elided_label import ElidedLabel
from app.ui.main_window import MainWindow
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send

REPO = Path(__file__).resolve().parents[3]


def test_reading_gives_way_to_writing_once_the_reply_streams(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    words = " ".join(f"word{i}" for i in range(300))
    page = make_page(FakeEngine([words], token_delay=0.01))
    page.composer.setPlainText("Tell me a story")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        page.send()
        qtbot.waitUntil(lambda: "word3" in page.transcript.bubbles[-1].text)
        assert "Reading" not in page.state_label.text()
        assert "Writing the reply" in page.state_label.text()
        page.stop()


def test_a_new_conversation_does_not_show_the_last_replys_speed(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    send(qtbot, page, "Hi")
    assert "tokens/s" in page.state_label.text()
    page.new_conversation()
    assert "tokens/s" not in page.state_label.text()
    assert "ready" in page.state_label.text()
    send(qtbot, page, "Hi again")
    first = page.list_model.conversation_at(1)
    assert first is not None
    page.open_conversation(first.id)
    assert "tokens/s" not in page.state_label.text()


def test_offline_shows_only_while_work_offline_is_on(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()  # the fixtures' store, with the starter in it
    window = MainWindow(page.store, conversations=page.conversations, engine_factory=FakeEngine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    assert not window.download_queue.settings.offline
    assert not window.offline_label.isVisible()
    window.download_queue.set_settings(Settings(offline=True))
    assert window.offline_label.isVisible()
    window.download_queue.set_settings(Settings(offline=False))
    assert not window.offline_label.isVisible()


def test_a_long_status_is_elided_with_the_whole_in_the_tooltip(qtbot: QtBot) -> None:
    label = ElidedLabel()
    qtbot.addWidget(label)
    label.resize(300, 20)
    label.setText("x" * 3000)
    assert label.sizeHint().width() < 1000 and label.minimumSizeHint().width() < 100
    assert label.is_elided() and label.shown_text().endswith("…")
    assert label.toolTip() == "x" * 3000 and label.text() == "x" * 3000
    label.setText("short")
    assert not label.is_elided() and label.toolTip() == ""


def test_a_3000_character_error_leaves_the_window_within_the_screen(tmp_path: Path) -> None:
    config = tmp_path / "screen.json"
    screen = {"name": "wide", "x": 0, "y": 0, "width": 1600, "height": 900}
    config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.gui.chat.wide_error_window"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["screen"] == 1600
    assert "the token buffer overflowed" in result["status"], "the error did reach the status"
    assert len(result["tooltip"]) > 3000, "the whole error is in the tooltip"
    assert result["after"] == result["before"] <= result["screen"]
    assert result["minimum"] <= result["screen"]


def test_a_long_prompt_shows_how_much_of_it_is_read(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    engine = FakeEngine(["Done reading."], prompt_batch=16, prompt_batch_delay=0.1)
    page = make_page(engine)
    long = " ".join(f"word{i}" for i in range(300))
    page.composer.setPlainText(long)
    seen: list[str] = []
    page.status_changed.connect(seen.append)
    with qtbot.waitSignal(page.controller.reply_ended, timeout=30_000):
        page.send()
        qtbot.waitUntil(lambda: "/ 308 tokens" in page.state_label.text(), timeout=10_000)
        note = page.transcript.bubbles[-1].note.text()
        assert "reading" in note and "/ 308 tokens" in note
    progress = [text for text in seen if "/ 308 tokens" in text]
    assert progress and progress[0].startswith("Reading the conversation… ")
    assert "Writing the reply" in seen[-2] and "tokens/s" in seen[-1]
    assert page.transcript.bubbles[-1].note.text() == ""
