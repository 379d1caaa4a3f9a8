"""Behaviour checks on the real starter model: identical, a changed template, changed weights,
and a check in another process with another thread count."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.classify.library import LabelSetLibrary
from app.core.drift import (
    CheckSet,
    CheckSetLibrary,
    ClassifySpec,
    PromptItem,
    TextItem,
    answer,
    check,
    to_markdown,
)
from app.core.drift.checkset import item_id
from app.core.models.gguf import read_gguf
from app.core.models.store import ModelStore
from app.core.paths import HOME_ENV
from tests.model_files import import_variant

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = (
    PromptItem(item_id("prompt", None, "What is 2 + 2?"), "What is 2 + 2?"),
    PromptItem(
        item_id("prompt", "Answer in one word.", "What colour is the sky?"),
        "What colour is the sky?",
        "Answer in one word.",
    ),
)
TEXTS = (
    ("I loved every minute of it, wonderful!", "positive"),
    ("Absolutely terrible, a waste of money.", "negative"),
    ("The staff were kind and the food was great.", "positive"),
    ("Broken on arrival and support never answered.", "negative"),
)


def chat_set() -> CheckSet:
    return CheckSet(name="chat", prompts=PROMPTS, max_tokens=12)


def label_set_check(store: ModelStore) -> CheckSet:
    sentiment = LabelSetLibrary.for_paths(store.paths).resolve("sentiment")
    texts = tuple(TextItem(item_id("text", t), t, gold) for t, gold in TEXTS)
    return CheckSet(name="labels", classify=ClassifySpec(sentiment, texts))


@pytest.mark.slow
def test_recording_then_checking_the_same_model_is_identical(module_store: ModelStore) -> None:
    paths = module_store.paths
    both = CheckSet(
        name="both", prompts=PROMPTS, classify=label_set_check(module_store).classify, max_tokens=12
    )
    recorded = both.recorded(answer(paths, module_store, both, threads=1))
    env = recorded.recording.environment if recorded.recording else None
    assert env is not None
    assert env.get("chat_threads") == "1" and env.get("prompt_cache") == "cold for every prompt"
    assert env.get("llama_cpp_python") and "CPU" in (env.get("system_info") or "")
    assert (env.get("classify_weights") or "").startswith("F16 from")
    assert all(a.tokens and a.text for a in recorded.recording.prompts)  # type: ignore[union-attr]
    CheckSetLibrary.for_paths(paths).save(recorded)
    report = check(paths, module_store, CheckSetLibrary.for_paths(paths).load("both"))
    assert report.identical, to_markdown(report)
    assert report.environment == ()
    assert report.accuracy_before == report.accuracy_after


@pytest.mark.slow
def test_a_changed_chat_template_drifts_the_prompts_it_affects_and_is_named(
    module_store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    template = read_gguf(starter_file).chat_template
    assert template is not None and "named SmolLM" in template
    # Only the default system prompt changes: prompts with their own system prompt are not
    # affected, prompts without one are.
    changed = template.replace("named SmolLM", "named Drifty")
    variant = import_variant(
        module_store, starter_file, tmp_path, **{"tokenizer.chat_template": changed}
    )
    paths = module_store.paths
    recorded = chat_set().recorded(answer(paths, module_store, chat_set(), threads=1))
    report = check(paths, module_store, recorded, variant)
    assert not report.identical
    assert [c.id for c in report.prompt_changes] == [PROMPTS[0].id]
    parts = {d.part for d in report.environment}
    assert "chat_template_sha256" in parts
    assert "chat template sha256" in report.summary()
    assert "| chat template sha256 |" in to_markdown(report)


def negated_norm_copy(source: Path, target: Path) -> Path:
    """The starter with its final norm's weights negated: a different model, same format."""
    info = read_gguf(source)
    (norm,) = [t for t in info.tensors if t.name == "output_norm.weight"]
    assert norm.type_name == "F32"
    data = bytearray(source.read_bytes())
    start = info.data_offset + norm.offset
    values = struct.unpack_from(f"<{norm.n_elements}f", data, start)
    struct.pack_into(f"<{norm.n_elements}f", data, start, *(-v for v in values))
    target.write_bytes(bytes(data))
    return target


@pytest.mark.slow
def test_a_classification_check_against_another_model_reports_the_flips(
    module_store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    other = module_store.import_file(
        negated_norm_copy(starter_file, tmp_path / "negated.gguf"), link=True
    )
    paths = module_store.paths
    checks = label_set_check(module_store)
    recorded = checks.recorded(answer(paths, module_store, checks, threads=1))
    report = check(paths, module_store, recorded, other.id)
    assert report.flips, to_markdown(report)
    assert report.accuracy_before is not None and report.accuracy_after is not None
    assert report.accuracy_after < report.accuracy_before
    assert "model file sha256" in {d.label for d in report.environment}
    markdown = to_markdown(report)
    assert "| flip |" in markdown and "Accuracy on 4 texts" in markdown


@pytest.mark.slow
def test_a_check_in_another_process_with_another_thread_count_reproduces(
    tmp_path: Path, home: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(json.dumps({"prompt": p.prompt, "system": p.system}) for p in PROMPTS) + "\n"
    )
    env = {**os.environ, HOME_ENV: str(home)}

    def driftless(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "drift", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    recorded = driftless(
        "record", "cross", "--prompts", str(prompts), "--threads", "1", "--max-tokens", "12"
    )
    assert recorded.returncode == 0, recorded.stderr
    checked = driftless("check", "cross", "--threads", "2", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["identical"] is True
    assert [d["part"] for d in report["environment"]] == ["chat_threads"]
    assert "chat thread count" in report["summary"]
