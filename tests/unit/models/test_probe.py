"""The load probe: a child process tries a new file first; its crash is remembered, not shared."""

from __future__ import annotations

import json
import signal
import struct
import sys
from pathlib import Path

import pytest

from app.cli import main as cli_main
from app.core.cancel import CancelToken
from app.core.chat import engine as engine_module
from app.core.chat.engine import Engine
from app.core.errors import Cancelled, ModelLoadError
from app.core.models import probe as probe_policy
from app.core.models.probe import ProbeCache, ensure_loadable
from app.core.models.starter import ensure_starter
from app.core.models.store import InstalledModel, ModelStore
from app.core.runtime import probe
from app.core.runtime.probe import PROBE_FLAG, probe_command, run_probe
from tests.model_files import tiny_model


def child_running(monkeypatch: pytest.MonkeyPatch, code: str) -> list[int]:
    """Make every probe child run ``code`` instead of loading; count the children."""
    started: list[int] = []

    def command(path: Path) -> list[str]:
        started.append(1)
        return [sys.executable, "-c", code]

    monkeypatch.setattr(probe, "probe_command", command)
    return started


ABORT = "import os; os.abort()"


@pytest.fixture
def model(store: ModelStore, tmp_path: Path) -> InstalledModel:
    return store.import_file(tiny_model(tmp_path / "Tiny.gguf"))


def test_a_crashing_child_marks_the_model_and_the_caller_gets_a_sentence(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = child_running(monkeypatch, ABORT)
    with pytest.raises(ModelLoadError) as raised:
        ensure_loadable(store.paths, model)
    message = str(raised.value)
    assert message.startswith(f"{model.id} cannot be loaded on this llama.cpp: SIGABRT.")
    assert "Choose another model" in message
    record = ProbeCache(store.paths).crashed(model)
    assert record is not None and record.how == "SIGABRT"
    saved = json.loads((store.paths.home / "cache" / "probes" / f"{model.sha256}.json").read_text())
    assert saved["ok"] is False and saved["llama_cpp"] == probe_policy.llama_cpp_version()
    # Remembered: the next load is refused at once, without another child.
    with pytest.raises(ModelLoadError, match="SIGABRT"):
        ensure_loadable(store.paths, model)
    assert started == [1]


def test_the_crash_clue_is_the_assert_line(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_running(
        monkeypatch,
        "import os, sys; sys.stderr.write('x/ops.cpp:41: GGML_ASSERT(eps >= 0.0f) failed\\n'); "
        "sys.stderr.flush(); os.abort()",
    )
    with pytest.raises(ModelLoadError, match=r"\(GGML_ASSERT\(eps >= 0.0f\) failed\)"):
        ensure_loadable(store.paths, model)


def test_a_child_that_loads_is_remembered_and_not_asked_again(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = child_running(monkeypatch, "pass")
    record = ensure_loadable(store.paths, model)
    assert record is not None and record.ok and record.how == "loaded"
    assert ensure_loadable(store.paths, model) == record
    assert started == [1]


def test_a_clean_refusal_is_not_a_crash(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama.cpp said no without dying: the real load says why, in its own words.
    child_running(monkeypatch, f"raise SystemExit({probe.EXIT_REFUSED})")
    record = ensure_loadable(store.paths, model)
    assert record is not None and record.ok and record.how == "refused"


def test_another_llama_cpp_version_probes_again(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = child_running(monkeypatch, ABORT)
    with pytest.raises(ModelLoadError):
        ensure_loadable(store.paths, model)
    monkeypatch.setattr(probe_policy, "llama_cpp_version", lambda: "9.9.9")
    child_running(monkeypatch, "pass")
    assert ensure_loadable(store.paths, model) is not None
    assert started == [1]


def test_a_damaged_cache_entry_means_probing_again(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = child_running(monkeypatch, "pass")
    folder = store.paths.home / "cache" / "probes"
    folder.mkdir(parents=True)
    (folder / f"{model.sha256}.json").write_text("{not json")
    assert ensure_loadable(store.paths, model) is not None
    assert started == [1]


def test_the_starter_on_the_pinned_llama_cpp_is_not_probed(
    store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = child_running(monkeypatch, ABORT)
    starter = ensure_starter(store)
    assert starter is not None
    assert ensure_loadable(store.paths, starter) is None
    assert started == []


def test_the_engine_refuses_a_model_that_crashed_its_probe_without_loading_it(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_running(monkeypatch, ABORT)
    monkeypatch.setattr(engine_module, "import_llama_cpp", lambda: pytest.fail("llama loaded"))
    engine = Engine(store)
    with pytest.raises(ModelLoadError, match=r"cannot be loaded on this llama\.cpp: SIGABRT"):
        engine.load(model.id)
    assert engine.loaded is None


def test_the_command_line_carries_on_with_one_line(
    store: ModelStore,
    model: InstalledModel,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    child_running(monkeypatch, ABORT)
    code = cli_main(["chat", "--model", model.id, "hello"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("driftless: ") and "SIGABRT" in err
    assert err.count("\n") == 1


def test_a_child_that_hangs_is_killed_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child_running(monkeypatch, "import time; time.sleep(60)")
    outcome = run_probe(tmp_path / "x.gguf", timeout=0.5)
    assert outcome.timed_out and outcome.crashed
    assert outcome.seconds < 10


def test_cancelling_kills_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child_running(monkeypatch, "import time; time.sleep(60)")
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        run_probe(tmp_path / "x.gguf", cancel=cancel)


def test_a_frozen_build_probes_through_its_own_hidden_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert probe_command(tmp_path / "m.gguf") == [
        sys.executable,
        PROBE_FLAG,
        str(tmp_path / "m.gguf"),
    ]
    assert cli_main([PROBE_FLAG]) == 2  # the flag reaches the probe, which wants a path


def test_signal_names() -> None:
    assert probe.ProbeOutcome(-signal.SIGSEGV, 0.1).how == "SIGSEGV"
    assert probe.ProbeOutcome(1, 0.1).how == "exit code 1"
    assert probe.ProbeOutcome(0xC0000409, 0.1).how == "exit code 0xC0000409"


# --- the real llama.cpp, in a child --------------------------------------------------------


@pytest.mark.slow
def test_the_real_probe_loads_the_starter(starter_file: Path) -> None:
    outcome = run_probe(starter_file)
    assert outcome.returncode == 0, outcome.detail
    assert not outcome.crashed


def patched_copy(source: Path, target: Path, key: str, fmt: str, value: object) -> Path:
    """A copy of ``source`` with one scalar value overwritten (same size, same layout)."""
    data = bytearray(source.read_bytes())
    raw = key.encode()
    at = data.find(struct.pack("<Q", len(raw)) + raw)
    assert at > 0
    struct.pack_into(fmt, data, at + 8 + len(raw) + 4, value)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "fmt", "value", "clue"),
    [
        ("llama.block_count", "<I", 0, "n_layer"),
        ("llama.attention.layer_norm_rms_epsilon", "<f", float("nan"), "eps >= 0.0f"),
    ],
)
def test_a_real_llama_cpp_abort_is_contained_in_the_child(
    starter_file: Path, tmp_path: Path, key: str, fmt: str, value: object, clue: str
) -> None:
    # Driftless's checks refuse these files; the probe is run on them directly to show
    # that llama.cpp really aborts on them, and that only the child dies.
    hostile = patched_copy(starter_file, tmp_path / "hostile.gguf", key, fmt, value)
    outcome = run_probe(hostile)
    assert outcome.crashed and outcome.how == "SIGABRT"
    assert clue in outcome.detail


def test_classification_refuses_a_model_that_crashed_its_probe(
    store: ModelStore, model: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.classify.runner import ModelRunner

    child_running(monkeypatch, ABORT)
    monkeypatch.setattr(
        "app.core.runtime.host.ModelHost.acquire", lambda *_a, **_k: pytest.fail("llama loaded")
    )
    with pytest.raises(ModelLoadError, match="SIGABRT"):
        ModelRunner.open(store, model.id, unpack=False)
