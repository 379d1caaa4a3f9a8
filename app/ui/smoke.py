"""``driftless --smoke-test``: prove a build works end to end, then exit.

It runs the real window (offscreen unless told otherwise): the starter model is found
and checked, the chat page loads it on the inference thread, one message is sent and a
few words of the reply are streamed back, printed and the reply stopped; then a child
process loads it as the load probe would (in a frozen build, through the hidden
``--probe-model`` flag). Exit status 0
means every step worked; any failure prints one line saying which step and exits 1.
This is what a packaged build is tested with (packaging/smoke.sh, tests/test_package.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from app.core.runtime.llama import cpu_kernels
from app.core.runtime.probe import ProbeOutcome, run_probe
from app.core.runtime.results import LoadedModel
from app.ui.chat.requests import ReplyOutcome
from app.ui.main_window import MainWindow
from app.ui.tasks import Task

log = logging.getLogger(__name__)

PROMPT = "Say hello to a new user in one short sentence."
ENOUGH_WORDS = 4
# Longer under an emulated processor (make smoke-cpus), where everything is ~20x slower.
TIMEOUT_SECONDS = float(os.environ.get("DRIFTLESS_SMOKE_TIMEOUT") or 120)


def check_lazy_imports() -> None:
    """Import what Driftless imports only when it needs it: a frozen build must carry it."""
    import huggingface_hub  # resolves its names lazily; a build can miss them
    import jinja2.sandbox  # noqa: F401  (llama-cpp-python renders chat templates with it)
    from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status  # noqa: F401
    from huggingface_hub.utils._headers import build_hf_headers  # noqa: F401

    huggingface_hub.HfApi(endpoint="http://127.0.0.1:9")  # builds a client, sends nothing


class SmokeTest(QObject):
    """Drives one window through start, load, generate; ``finished`` carries 0 or 1."""

    finished = Signal(int)

    def __init__(
        self, window: MainWindow, out: TextIO | None = None, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        super().__init__(window)
        self.window = window
        self.out = out if out is not None else sys.stdout
        self.step = "starting the window"
        self.reply = ""
        self.code: int | None = None
        self._started = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(timeout * 1000))
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._timer.start()
        self.step = "importing lazily loaded modules"
        try:
            check_lazy_imports()
        except Exception as exc:  # a frozen build missing a module: say which
            self.fail(f"{type(exc).__name__}: {exc}")
            return
        self.step = "checking the starter model"
        if self.window.starter_checked:
            self._on_window_starter_ready()
        else:
            self.window.starter_ready.connect(
                self._on_window_starter_ready, Qt.ConnectionType.SingleShotConnection
            )

    def say(self, text: str) -> None:
        log.info("smoke test: %s", text)
        if self.out is not None:  # a windowed Windows build has no stdout
            print(f"smoke: {text}", file=self.out, flush=True)

    def fail(self, reason: str) -> None:
        if self.code is None:
            self.say(f"FAILED while {self.step}: {reason}")
            self._finish(1)

    def _finish(self, code: int) -> None:
        self.code = code
        self._timer.stop()
        self.finished.emit(code)

    @Slot()
    def _on_window_starter_ready(self) -> None:
        active = self.window.store.active()
        if active is None:
            self.fail("no model is installed; the starter model is missing from the build")
            return
        self.say(f"starter model {active.id} registered, sha256 {active.sha256[:12]}…")
        welcome = "shown" if self.window.welcome_dialog is not None else "not shown"
        self.say(f"welcome dialog {welcome}")
        self.step = f"loading {active.id}"
        controller = self.window.chat_page.controller
        controller.load_failed.connect(self.fail)
        if controller.loaded is not None:
            self._on_controller_model_loaded(controller.loaded)
        else:
            controller.model_loaded.connect(
                self._on_controller_model_loaded, Qt.ConnectionType.SingleShotConnection
            )

    @Slot(object)
    def _on_controller_model_loaded(self, loaded: LoadedModel) -> None:
        self.say(f"loaded {loaded.model_id} in {loaded.load_seconds:.2f} s")
        self.say(f"llama.cpp CPU kernels: {cpu_kernels()}")
        self.step = "generating a reply"
        page = self.window.chat_page
        page.controller.text_received.connect(self._on_controller_text_received)
        page.controller.reply_ended.connect(self._on_controller_reply_ended)
        page.composer.setPlainText(PROMPT)
        page.send()
        if not page.controller.busy:
            self.fail(page.state_label.text() or "the message was not sent")

    @Slot(str)
    def _on_controller_text_received(self, text: str) -> None:
        self.reply += text
        if len(self.reply.split()) >= ENOUGH_WORDS:
            self.window.chat_page.controller.stop()

    @Slot(object)
    def _on_controller_reply_ended(self, outcome: ReplyOutcome) -> None:
        if outcome.status == "error":
            self.fail(outcome.error or "the reply failed")
            return
        if not self.reply.strip():
            self.fail("the model produced no text")
            return
        self.say(f"reply: {' '.join(self.reply.split())}")
        self._probe_starter()

    def _probe_starter(self) -> None:
        """Load the starter in a child process as a new model's first load does.

        In a frozen build this is ``Driftless --probe-model``: the path only a build can
        break, and the one that keeps a hostile model from killing the window.
        """
        active = self.window.store.active()
        if active is None:
            self.fail("the starter model disappeared")
            return
        self.step = "loading the starter in a child process (the load probe)"
        task = Task(lambda task: run_probe(active.path, cancel=task.cancel_token), self)
        task.succeeded.connect(self._on_probe_succeeded)
        task.failed.connect(self.fail)
        task.start()

    @Slot(object)
    def _on_probe_succeeded(self, outcome: ProbeOutcome) -> None:
        if outcome.returncode != 0:
            self.fail(f"the probe child ended with {outcome.how} {outcome.detail}".strip())
            return
        self.say(f"probe: a child process loaded the model in {outcome.seconds:.2f} s")
        self.say(f"ok in {time.monotonic() - self._started:.1f} s")
        self._finish(0)

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.fail(f"no answer within {self._timer.interval() // 1000} s")
