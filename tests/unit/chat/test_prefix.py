"""Exact reuse of the prompt's KV cache (app/core/chat/prefix.py) on real models.

A reply after reusing the live cache, and one after restoring a saved state, must be
identical token for token, with the very same log-probabilities, to one after a cold
evaluation (temperature 0), over several turns. gemma-3-270m's repacked Q4_K gives other
numbers when a prompt is cut into other batches, so it is the model that shows it; the
starter gives the same numbers for any cut, and is checked on the behaviour check prompts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.core.chat import prefix as prefix_module
from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.chat.states import MemoryStates, StateStore
from app.core.drift.starter import PROMPTS as STARTER_PROMPTS
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.results import GenerationStats
from app.core.runtime.template import ChatMessage, assistant, system, user
from tests.gemma_model import install_gemma

GREEDY = SamplingParams(temperature=0.0, max_tokens=24, logprobs=0)
SYSTEM = system("You answer in one or two plain sentences. " * 12)
QUESTIONS = (
    "Name a river in Europe.",
    "How long is it?",
    "Which cities does it pass?",
    "Name another one, in Asia.",
)


@dataclass(frozen=True)
class Turn:
    text: str
    logprobs: tuple[float, ...]
    stats: GenerationStats


def converse(engine: Engine, *, forget: bool, questions: Sequence[str] = QUESTIONS) -> list[Turn]:
    """Ask ``questions`` in turn; ``forget``: drop the live cache before each one."""
    messages: list[ChatMessage] = [SYSTEM]
    turns = []
    for question in questions:
        messages.append(user(question))
        if forget:
            engine.forget_prompt_cache()
        text = "".join(engine.stream_chat(messages, GREEDY))
        stats = engine.last_stats
        assert stats is not None
        turns.append(Turn(text, tuple(lp.logprob for lp in engine.last_logprobs), stats))
        messages.append(assistant(text))
    return turns


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelStore, str, str]:
    store = ModelStore(get_paths(tmp_path_factory.mktemp("prefix-home")))
    starter = ensure_starter(store)
    assert starter is not None
    return store, starter.id, install_gemma(store).id


def engine_over(store: ModelStore, ref: str, **kwargs: object) -> Engine:
    engine = Engine(store, **kwargs)  # type: ignore[arg-type]
    engine.load(ref)
    return engine


@pytest.fixture(scope="module", params=["starter", "gemma"])
def cold(
    request: pytest.FixtureRequest, models: tuple[ModelStore, str, str]
) -> Iterator[tuple[str, list[Turn]]]:
    """The reference: every turn evaluated from nothing, nothing saved."""
    store, starter, gemma = models
    ref = starter if request.param == "starter" else gemma
    with engine_over(store, ref) as engine:
        yield ref, converse(engine, forget=True)


@pytest.mark.slow
def test_live_and_restored_replies_are_the_cold_ones_bit_for_bit(
    models: tuple[ModelStore, str, str], cold: tuple[str, list[Turn]], tmp_path: Path
) -> None:
    store, _, _ = models
    ref, reference = cold
    states = StateStore(tmp_path / "states", 1 << 31)
    with engine_over(store, ref, states=[states]) as engine:
        live = converse(engine, forget=False)
    with engine_over(store, ref, states=[states]) as engine:  # a new context, as a new process
        restored = converse(engine, forget=True)
    for name, turns in (("live", live), ("restored", restored)):
        assert [t.text for t in turns] == [t.text for t in reference], name
        assert [t.logprobs for t in turns] == [t.logprobs for t in reference], name
    # From the second turn on only the new message is evaluated.
    for turn in (*live[1:], *restored[1:]):
        new = turn.stats.prompt_tokens - turn.stats.cached_tokens
        assert new <= 25, turn.stats  # the question (at most 8 tokens) and its markers
    assert all(t.stats.restored_tokens == t.stats.cached_tokens > 0 for t in restored[1:])
    assert all(t.stats.restored_tokens == 0 for t in live)


@pytest.mark.slow
def test_the_api_prefix_cache_in_memory_is_exact(
    models: tuple[ModelStore, str, str], cold: tuple[str, list[Turn]]
) -> None:
    store, _, _ = models
    ref, reference = cold
    slots = MemoryStates(4)
    with engine_over(store, ref, states=[slots], save_prompts=True) as engine:
        turns = converse(engine, forget=True)
    assert [t.logprobs for t in turns] == [t.logprobs for t in reference]
    # Each request restores the previous prompt (the reply is evaluated again).
    assert all(t.stats.restored_tokens > 0 for t in turns[1:])
    assert 0 < len(slots) <= 4


@pytest.mark.slow
def test_a_batch_cut_elsewhere_changes_gemmas_numbers(
    models: tuple[ModelStore, str, str],
) -> None:
    """Why the chunks are canonical: on gemma, the same prompt cut three tokens before its
    end gives other logits (the starter happens not to care)."""
    store, _, gemma = models
    with engine_over(store, gemma) as engine:
        tokens = engine.tokenize_prompt(engine.render([SYSTEM, user(QUESTIONS[0])]).text)
        cache = engine._cache
        assert cache is not None
        logits = []
        for cuts in ((), (len(tokens) - 3,)):
            cache.forget()
            cache.prefill(tokens, cuts=cuts)
            n_vocab = engine.llama.n_vocab()
            row = np.ctypeslib.as_array(engine.llama._ctx.get_logits(), shape=(n_vocab,))
            logits.append(row.copy())
        assert not np.array_equal(logits[0], logits[1])


@pytest.mark.slow
def test_a_state_of_another_model_or_runtime_is_never_used(
    models: tuple[ModelStore, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, starter, gemma = models
    states = StateStore(tmp_path / "states", 1 << 31)
    with engine_over(store, starter, states=[states]) as engine:
        converse(engine, forget=False, questions=QUESTIONS[:1])
    saved = len(list(states.folder.glob("*.kvstate")))
    assert saved >= 1
    with engine_over(store, gemma, states=[states]) as engine:
        turns = converse(engine, forget=True, questions=QUESTIONS[:1])
    assert turns[0].stats.restored_tokens == 0
    monkeypatch.setattr(prefix_module, "cpu_kernels", lambda: "another build")
    with engine_over(store, starter, states=[states]) as engine:
        messages = [SYSTEM, user(QUESTIONS[0]), assistant("x"), user(QUESTIONS[1])]
        list(engine.stream_chat(messages, GREEDY))
        stats = engine.last_stats
        assert stats is not None and stats.restored_tokens == 0
    monkeypatch.undo()
    with engine_over(store, starter, states=[states]) as engine:
        turns = converse(engine, forget=True, questions=QUESTIONS[:2])
    assert turns[1].stats.restored_tokens > 0, "the same model and runtime do use it"


@pytest.mark.slow
def test_a_damaged_state_is_ignored_and_a_full_disk_fails_no_reply(
    models: tuple[ModelStore, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, starter, _ = models
    states = StateStore(tmp_path / "states", 1 << 31)
    with engine_over(store, starter, states=[states]) as engine:
        first = converse(engine, forget=False, questions=QUESTIONS[:2])
    for path in states.folder.glob("*.kvstate"):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash or a full disk
    with caplog.at_level(logging.WARNING), engine_over(store, starter, states=[states]) as engine:
        again = converse(engine, forget=True, questions=QUESTIONS[:2])
    assert [t.logprobs for t in again] == [t.logprobs for t in first]
    assert again[1].stats.restored_tokens == 0
    assert "Ignoring the KV state" in caplog.text

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("app.core.chat.states.atomic_write_bytes", full)
    empty = StateStore(tmp_path / "empty", 1 << 31)
    with engine_over(store, starter, states=[empty]) as engine:
        turns = converse(engine, forget=False, questions=QUESTIONS[:2])
    assert [t.text for t in turns] == [t.text for t in first]
    assert not list(empty.folder.glob("*.kvstate"))


@pytest.mark.slow
def test_the_check_set_prompts_give_the_same_replies_after_restoring(
    models: tuple[ModelStore, str, str], tmp_path: Path
) -> None:
    """The starter's behaviour check prompts, asked as follow-ups of a saved conversation:
    restored and cold replies are the same tokens."""
    store, starter, _ = models
    prompts = [prompt for _, prompt in STARTER_PROMPTS]
    states = StateStore(tmp_path / "states", 1 << 31)
    with engine_over(store, starter, states=[states]) as engine:
        converse(engine, forget=False, questions=QUESTIONS[:2])
    with (
        engine_over(store, starter, states=[states]) as restoring,
        engine_over(store, starter) as reference,
    ):
        history = [SYSTEM]
        for question in QUESTIONS[:2]:
            history.append(user(question))
            history.append(assistant("".join(reference.stream_chat(history, GREEDY))))
        for prompt in prompts:
            messages = [*history, user(prompt)]
            restoring.forget_prompt_cache()
            reference.forget_prompt_cache()
            mine = "".join(restoring.stream_chat(messages, GREEDY))
            stats = restoring.last_stats
            theirs = "".join(reference.stream_chat(messages, GREEDY))
            assert (mine, restoring.last_token_ids) == (theirs, reference.last_token_ids)
            assert stats is not None and stats.restored_tokens > 0
