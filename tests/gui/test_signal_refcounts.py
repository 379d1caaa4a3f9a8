"""The Qt binding must not corrupt reference counts when signals are emitted.

PySide6 6.12.0 decremented the count of ``True``/``False``/``None`` on every emit of
a signal with arguments: a long streamed reply (one emit per batch of tokens)
aborted the whole app with "Fatal Python error: bool_dealloc". The chat streams
thousands of emits, so the pinned binding is checked here, in a child process
because the failure is a hard abort.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, threading
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Emitter(QObject):
    happened = Signal(int, str)
emitter = Emitter()
seen = []
emitter.happened.connect(lambda number, text: seen.append(number))
before = sys.getrefcount(None), sys.getrefcount(True)
def emit_many():
    for number in range(5000):
        emitter.happened.emit(number, "x")
emit_many()
worker = threading.Thread(target=emit_many)
worker.start()
worker.join()
app.processEvents()
after = sys.getrefcount(None), sys.getrefcount(True)
print(len(seen), before[0] - after[0], before[1] - after[1])
"""


def test_many_emits_keep_reference_counts_whole() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    delivered, none_lost, true_lost = map(int, done.stdout.split())
    assert delivered == 10_000
    assert none_lost < 500 and true_lost < 500, (none_lost, true_lost)
