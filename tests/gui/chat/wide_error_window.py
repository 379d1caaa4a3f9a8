"""Run by test_status.py in its own process, on a 1,600 px offscreen screen: open the window,
make a reply fail with a 3,000-character error, print the window's and the screen's widths.

The test process's offscreen screen is 800 px (and fixed once Qt starts), so the screen of
the issue needs a process of its own.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtWidgets import QApplication

from app.core.chat.conversations import ConversationStore
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.results import GenerationError
from app.ui.main_window import MainWindow
from tests.fake_engine import FakeEngine

LONG_ERROR = "llama.cpp failed: " + "the token buffer overflowed " * 107  # 3,000 characters


def main() -> None:
    app = QApplication(sys.argv[:1])
    store = ModelStore(get_paths().ensure())
    engine = FakeEngine(["x"], fail_after_tokens=0, fail_with=GenerationError(LONG_ERROR))
    window = MainWindow(
        store, conversations=ConversationStore(store.paths), engine_factory=lambda: engine
    )
    window.show()
    page = window.chat_page
    deadline = 200
    while page.controller.loaded is None and deadline:
        app.processEvents()
        window.thread().msleep(50)
        deadline -= 1
    before = window.frameGeometry().width()
    page.composer.setPlainText("Hi")
    page.send()
    while page.controller.busy and deadline:
        app.processEvents()
        window.thread().msleep(50)
        deadline -= 1
    for _ in range(20):
        app.processEvents()
    window.active_label.setText(LONG_ERROR)
    window.progress.begin("job", LONG_ERROR)
    for _ in range(20):
        app.processEvents()
    result = {
        "screen": window.screen().availableGeometry().width(),
        "before": before,
        "after": window.frameGeometry().width(),
        "minimum": window.minimumSizeHint().width(),
        "status": page.state_label.text(),
        "tooltip": page.state_label.toolTip(),
    }
    window.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
