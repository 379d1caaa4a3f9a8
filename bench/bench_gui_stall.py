"""The GUI event loop's longest stall while a reply streams at full speed.

A QTimer fires every 5 ms on the GUI thread and records the gaps between its ticks
while the real starter model streams a long reply into the chat page (offscreen).
The longest gap is how long the window was frozen. Target: under 50 ms.

    .venv/bin/python bench/bench_gui_stall.py [--tokens 400] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from app.core.chat.conversations import ConversationStore
from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.ui.chat.page import ChatPage

PROMPT = "Write a long story about a lighthouse keeper and a storm, in many paragraphs."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    home = Path(tempfile.mkdtemp(prefix="driftless-bench-"))
    store = ModelStore(get_paths(home))
    ensure_starter(store)
    conversations = ConversationStore(store.paths)
    page = ChatPage(store, conversations, lambda: Engine(store))
    page.resize(1000, 700)
    page.show()
    while page.controller.loaded is None:
        app.processEvents()
        time.sleep(0.01)

    results = []
    for run in range(args.runs):
        gaps: list[float] = []
        clock = QElapsedTimer()
        probe = QTimer()
        probe.setInterval(5)

        def tick(gaps: list[float] = gaps, clock: QElapsedTimer = clock) -> None:
            gaps.append(clock.restart())

        probe.timeout.connect(tick)
        conversation = conversations.create_conversation(f"bench {run}")
        page.open_conversation(conversation.id)
        conversations.add_user_message(conversation.id, PROMPT)
        params = SamplingParams(temperature=0.8, max_tokens=args.tokens, seed=run)
        started = time.perf_counter()
        clock.start()
        probe.start()
        page.controller.send(conversation.id, [page_message()], params)
        page.transcript.begin_reply()
        while page.controller.busy:
            app.processEvents()
            time.sleep(0.001)
        probe.stop()
        elapsed = time.perf_counter() - started
        stats = page.controller.loaded and conversations.get_thread(conversation.id)[-1]
        tokens = stats.completion_tokens if stats else 0
        steady = gaps[1:] or [0.0]
        results.append((max(steady), statistics.median(steady), tokens or 0, elapsed))
        print(
            f"run {run + 1}: longest stall {max(steady):.0f} ms, median tick "
            f"{statistics.median(steady):.1f} ms, {tokens} tokens in {elapsed:.1f} s "
            f"({(tokens or 0) / elapsed:.1f} tokens/s)"
        )
    worst = max(r[0] for r in results)
    print(f"\nlongest stall over {args.runs} runs: {worst:.0f} ms (target < 50 ms)")
    page.shutdown()
    conversations.close()
    return 0


def page_message() -> object:
    from app.core.runtime.template import ChatMessage

    return ChatMessage("user", PROMPT)


if __name__ == "__main__":
    sys.exit(main())
