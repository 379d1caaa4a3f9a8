"""The load probe: open a model with llama.cpp in a child process, so a crash kills only it.

llama.cpp ends the process on some malformed models (``abort()`` on a failed
``GGML_ASSERT``, a segfault on others) and no Python ``try`` can catch that. Driftless's
own checks refuse every such file it knows of (:mod:`app.core.models.gguf_checks`); the
probe is for the ones nobody knows of yet. The child loads the model, makes a small
context and decodes one token (which builds the whole compute graph, where most asserts
live), then exits 0. Any other ending, a signal above all, is the answer.

The child is ``python -m app.core.runtime.probe PATH``, or, in a frozen build where
``sys.executable`` is Driftless itself, ``driftless --probe-model PATH`` (the command
line hands that straight to :func:`main`). Whether and when to probe, and remembering
the answer, is :mod:`app.core.models.probe`'s business.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken

PROBE_FLAG = "--probe-model"
"""The hidden command-line flag a frozen build's child runs as."""
PROBE_TIMEOUT = 300.0
"""Seconds a probe may take: a big model from a slow disk, with room to spare."""
PROBE_CONTEXT = 256
EXIT_LOADED = 0
EXIT_REFUSED = 3
"""llama.cpp refused the model with an error, without crashing: a clean failure that the
real load will report in its own words."""
_POLL_SECONDS = 0.05
_STDERR_TAIL = 4096


@dataclass(frozen=True)
class ProbeOutcome:
    """How a probe child ended."""

    returncode: int | None
    """The exit status; negative for a signal (POSIX); None when it was killed for time."""
    seconds: float
    detail: str = ""
    """The last line the child wrote on stderr (an assert, a Python error), if any."""

    @property
    def crashed(self) -> bool:
        return self.returncode not in (EXIT_LOADED, EXIT_REFUSED)

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def how(self) -> str:
        """What ended the child, in a few words: ``SIGABRT``, ``exit code 1``."""
        code = self.returncode
        if code is None:
            return "no answer in time"
        if code < 0:
            try:
                return signal.Signals(-code).name
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}" if code < 1 << 16 else f"exit code 0x{code:X}"


def probe_command(path: Path) -> list[str]:
    """The child's command line: the app itself when frozen, else this module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, PROBE_FLAG, str(path)]
    return [sys.executable, "-m", "app.core.runtime.probe", str(path)]


def run_probe(
    path: Path, *, cancel: CancelToken | None = None, timeout: float = PROBE_TIMEOUT
) -> ProbeOutcome:
    """Run the probe child on ``path`` and say how it ended; cancelling kills it."""
    env = dict(os.environ)
    # The child imports the same ``app`` as this process, wherever it was started from.
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    # ggml's abort would otherwise attach gdb for a backtrace: seconds, and pages of noise.
    env["GGML_NO_BACKTRACE"] = "1"
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            probe_command(path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
        )
        try:
            returncode = _wait(child, started + timeout, cancel)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        errors.seek(0, os.SEEK_END)
        errors.seek(max(0, errors.tell() - _STDERR_TAIL))
        tail = errors.read().decode("utf-8", "replace")
    return ProbeOutcome(returncode, time.monotonic() - started, _last_line(tail))


def _wait(
    child: subprocess.Popen[bytes], deadline: float, cancel: CancelToken | None
) -> int | None:
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            return child.wait(timeout=_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):  # an assert names the check that failed: the best clue
        if "GGML_ASSERT" in line:
            return line[line.index("GGML_ASSERT") :][:300]
    for line in reversed(lines):
        if "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else ""


# --- the child -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Load the model named by ``argv[0]``, decode one token, exit. Runs in the child."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: {PROBE_FLAG} MODEL.gguf", file=sys.stderr)
        return 2
    from app.core.errors import DriftlessError
    from app.core.runtime.llama import import_llama_cpp, last_native_error

    try:
        lib = import_llama_cpp()
    except DriftlessError as exc:  # a broken install is not the model's fault
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    lib.llama_backend_init()
    params = lib.llama_model_default_params()
    params.n_gpu_layers = 0  # the file is probed, not the GPU (llama.cpp's default: all)
    model = lib.llama_model_load_from_file(args[0].encode(), params)
    if not model:
        print(f"error: {last_native_error('llama.cpp could not load it')}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return _decode_one_token(lib, model)
    finally:
        lib.llama_model_free(model)


def _decode_one_token(llama: Any, model: Any) -> int:
    ctx_params = llama.llama_context_default_params()
    trained = int(llama.llama_model_n_ctx_train(model))
    ctx_params.n_ctx = max(8, min(PROBE_CONTEXT, trained))
    ctx_params.n_batch = ctx_params.n_ctx
    ctx_params.n_ubatch = ctx_params.n_ctx
    ctx_params.n_threads = 1
    ctx_params.n_threads_batch = 1
    ctx = llama.llama_init_from_model(model, ctx_params)
    if not ctx:
        print("error: llama.cpp could not make a context", file=sys.stderr)
        return EXIT_REFUSED
    try:
        vocab = llama.llama_model_get_vocab(model)
        token = int(llama.llama_vocab_bos(vocab))
        if token < 0:
            token = 0
        tokens = (llama.llama_token * 1)(token)
        if llama.llama_decode(ctx, llama.llama_batch_get_one(tokens, 1)) != 0:
            print("error: llama.cpp could not evaluate a token", file=sys.stderr)
            return EXIT_REFUSED
    finally:
        llama.llama_free(ctx)
    return EXIT_LOADED


if __name__ == "__main__":
    sys.exit(main())
